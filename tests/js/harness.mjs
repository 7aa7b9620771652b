// Starts the real `quire` binary for interop tests and gives clients to talk to it.
//
// The binary is built by the test script (cargo build) before node runs; QUIRE_BIN overrides
// its path. The server listens on 127.0.0.1:0 and the test reads the bound address from the log
// line `listening on http://127.0.0.1:PORT`, so tests never guess a port.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'

const here = dirname(fileURLToPath(import.meta.url))
// Each y-websocket provider adds a process 'exit' listener in Node; tests open many.
process.setMaxListeners(2000)
export const quireBin = process.env.QUIRE_BIN ?? join(here, '..', '..', 'target', 'debug', 'quire')

/** Runs `quire serve` (the binary `bin`) on a fresh data dir, with `env` added to its environment; resolves once it listens. */
export async function startQuire (extraArgs = [], { dataDir, bin = quireBin, env = {} } = {}) {
  const ownDir = dataDir === undefined
  dataDir ??= mkdtempSync(join(tmpdir(), 'quire-interop-'))
  const child = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', ...env }
  })
  let log = ''
  const url = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log += chunk.toString()
      const match = log.match(/listening on (https?:\/\/127\.0\.0\.1:\d+)/)
      if (match) resolve(match[1])
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`quire exited with ${code} before listening:\n${log}`)))
    child.once('error', reject)
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/ws',
    pid: child.pid,
    dataDir,
    log: () => log,
    exited,
    /** Kills the server with SIGKILL (no chance to flush) and waits for it. */
    async crash () {
      child.kill('SIGKILL')
      return exited
    },
    /** Stops the server with SIGTERM and waits for it. */
    async stop () {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const result = await exited
      if (ownDir) rmSync(dataDir, { recursive: true, force: true })
      return result
    }
  }
}

/** Resident memory of a process (VmRSS), in bytes. */
export const residentBytes = (pid) => 1024 * Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1])

/** Samples the VmRSS of process `pid` every 20 ms until `stop()`, keeping the peak. */
export function watchMemory (pid) {
  const watch = { baseline: residentBytes(pid), peak: 0 }
  const sample = () => {
    try { watch.peak = Math.max(watch.peak, residentBytes(pid)) } catch { /* exited: asserted elsewhere */ }
  }
  sample()
  const timer = setInterval(sample, 20)
  watch.stop = () => { clearInterval(timer); sample(); return watch }
  return watch
}

/** A y-websocket client on its own Y.Doc. */
export function connectProvider (server, room, options = {}) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(server.wsUrl, room, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    ...options
  })
  return {
    doc,
    provider,
    text: doc.getText('text'),
    /** Disconnects and frees the document (its awareness keeps a timer until then). */
    close () {
      provider.destroy()
      doc.destroy()
    }
  }
}

/** Resolves when `provider` has synced with the server. */
export function synced (provider) {
  if (provider.synced) return Promise.resolve()
  return new Promise((resolve) => {
    const handler = (isSynced) => {
      if (isSynced) {
        provider.off('sync', handler)
        resolve()
      }
    }
    provider.on('sync', handler)
  })
}

/** Resolves once `predicate()` holds, re-checking whenever `doc` changes. */
export function docSatisfies (doc, predicate) {
  if (predicate()) return Promise.resolve()
  return new Promise((resolve) => {
    const handler = () => {
      if (predicate()) {
        doc.off('update', handler)
        resolve()
      }
    }
    doc.on('update', handler)
  })
}

/** Resolves once `predicate()` holds, re-checking on every awareness change. */
export function awarenessSatisfies (awareness, predicate) {
  if (predicate()) return Promise.resolve()
  return new Promise((resolve) => {
    const handler = () => {
      if (predicate()) {
        awareness.off('change', handler)
        resolve()
      }
    }
    awareness.on('change', handler)
  })
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within (promise, ms, what) {
  let timer
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * A raw WebSocket. `onMessage` hears every message, even one in the same packet as the upgrade's
 * answer; `nextMessage(predicate)` must be called before what provokes the message.
 */
export async function openRaw (url, onMessage = () => {}) {
  const socket = new WebSocket(url)
  socket.on('message', (data) => onMessage(new Uint8Array(data)))
  const closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const nextMessage = (predicate) => new Promise((resolve) => {
    const handler = (data) => {
      const frame = new Uint8Array(data)
      if (predicate(frame)) { socket.off('message', handler); resolve(frame) }
    }
    socket.on('message', handler)
  })
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  return { socket, closed, nextMessage }
}

/**
 * A Hocuspocus provider for document `name` on a socket of its own, with the close codes its
 * socket gets; `synced` resolves once it has synced.
 */
export function connectHocuspocus (server, name) {
  const socket = new HocuspocusProviderWebsocket({ url: server.url.replace(/^http/, 'ws') + '/hocuspocus', WebSocketPolyfill: WebSocket })
  const doc = new Y.Doc()
  const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc })
  provider.attach()
  const closes = []
  socket.on('close', ({ event }) => closes.push(event?.code))
  const synced = provider.isSynced
    ? Promise.resolve()
    : new Promise((resolve) => {
      const handler = () => { provider.off('synced', handler); resolve() }
      provider.on('synced', handler)
    })
  return {
    doc, provider, socket, text: doc.getText('text'), closes, synced,
    close () { provider.destroy(); socket.destroy(); doc.destroy() }
  }
}

/** Resolves once `check()` (maybe async) is true, checking every 100 ms: for conditions outside
 *  the test process (a server's readiness, a disk), which offer no event to await. */
export async function until (check) {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 100))
}

/** The server's `/readyz` answer. */
export async function readiness (server) {
  const response = await fetch(`${server.url}/readyz`)
  return { status: response.status, body: await response.text() }
}

/** The text of document `room` as a fresh y-websocket client of `server` syncs it. */
export async function storedText (server, room) {
  const client = connectProvider(server, room)
  try {
    await within(synced(client.provider), 10000, `a fresh client of ${room} to sync`)
    return client.text.toString()
  } finally {
    client.close()
  }
}
