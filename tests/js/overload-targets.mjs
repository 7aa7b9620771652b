// The overload issue's (#20) long targets, at full size, against the release binary: a benchmark
// to run by hand, not a test (npm test runs the short versions in overload.test.mjs).
//
//   node tests/js/overload-targets.mjs                # both parts, defaults as in the issue
//   node tests/js/overload-targets.mjs stalled --readers 20 --seconds 30
//   node tests/js/overload-targets.mjs half-open --connections 21000
//
// stalled:   --readers raw clients complete the upgrade to one room and never read again, while a
//            y-websocket writer replaces the room's text with a fresh 1 MB string every 20 ms for
//            --seconds, and a healthy reader follows. Reports the server's peak resident memory
//            (VmHWM), when the last stalled reader was cut (from quire_slow_client_disconnects_total),
//            and whether the healthy reader ended equal to the writer.
// half-open: --connections TCP connections (spread over two child processes, each under its own
//            open-files limit) send the start of an upgrade request and nothing more, against a
//            server with default limits. Reports how long until every one was closed, then, with
//            the attacker still running, how long /healthz and a stock y-websocket client's sync
//            take, and how many lines the server logged.
// Prints one JSON object per part.

import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startQuire, connectProvider, synced, docSatisfies, within } from './harness.mjs'
import { stalledReader } from './raw-clients.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const releaseBin = process.env.QUIRE_RELEASE_BIN ?? join(here, '..', '..', 'target', 'release', 'quire')
const MiB = 1024 * 1024

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    readers: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '21000' }
  }
})

const peakResident = (pid) => 1024 * Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)[1])
const sleep = (millis) => new Promise((resolve) => setTimeout(resolve, millis))

async function metric (server, pattern) {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const match = text.match(pattern)
  return match ? Number(match[1]) : 0
}

async function stalledReaders (readers, seconds) {
  // As the issue says: the inbound limit is raised above the flood, so this measures the queue
  // bound and the send timeout, not the byte rate limit.
  const server = await startQuire(['--max-bytes-per-second', String(1024 * MiB)], { bin: releaseBin })
  try {
    const writer = connectProvider(server, 'flood')
    const reader = connectProvider(server, 'flood')
    await within(Promise.all([synced(writer.provider), synced(reader.provider)]), 10000, 'sync')
    const stalled = await Promise.all(Array.from({ length: readers }, () => stalledReader(server, '/ws/flood')))
    const stalledAt = Date.now()
    let allCutAt = null
    const watchCuts = (async () => {
      while (allCutAt === null) {
        if (await metric(server, /quire_slow_client_disconnects_total(?:\{[^}]*\})? (\d+)/) >= readers) allCutAt = Date.now()
        else await sleep(100)
      }
    })()
    const end = Date.now() + seconds * 1000
    let rounds = 0
    while (Date.now() < end) {
      const due = Date.now() + 20
      writer.doc.transact(() => {
        writer.text.delete(0, writer.text.length)
        writer.text.insert(0, `${rounds}:`.padEnd(MiB, String.fromCharCode(97 + (rounds % 26))))
      })
      rounds++
      await sleep(Math.max(0, due - Date.now()))
    }
    const expected = writer.text.toString()
    const readerEqual = await within(docSatisfies(reader.doc, () => reader.text.toString() === expected), 60000, 'the reader to catch up')
      .then(() => true, () => false)
    await within(watchCuts, 60000, 'every stalled reader to be cut').catch(() => {})
    const result = {
      part: 'stalled',
      readers,
      seconds,
      updates: rounds,
      peak_resident_mib: Math.round(peakResident(server.pid) / MiB),
      last_cut_after_seconds: allCutAt === null ? null : (allCutAt - stalledAt) / 1000,
      healthy_reader_equal: readerEqual
    }
    stalled.forEach((socket) => socket.destroy())
    writer.close()
    reader.close()
    return result
  } finally {
    await server.stop()
  }
}

/** Source of an attacker process: opens `count` half-open connections to `port`, reports how
 *  many the server closed, and keeps running until killed. */
const ATTACKER = `
const { connect } = require('node:net')
const [port, count] = process.argv.slice(1).map(Number)
let opened = 0, closed = 0, failed = 0
const report = () => process.stdout.write(JSON.stringify({ opened, closed, failed }) + '\\n')
let pending = 0, next = 0
function open () {
  while (pending < 200 && next < count) {
    next++; pending++
    const socket = connect(port, '127.0.0.1')
    let counted = false
    socket.on('connect', () => { opened++; pending--; counted = true; socket.write('GET /ws/held HTTP/1.1\\r\\nHost: x\\r\\n'); open() })
    socket.on('error', () => {})
    socket.on('close', () => { if (counted) closed++; else { failed++; pending--; open() } })
  }
}
open()
setInterval(report, 200)
`

async function halfOpen (connections) {
  const server = await startQuire([], { bin: releaseBin })
  const logLinesBefore = server.log ? server.log().split('\n').length : null
  const port = Number(new URL(server.url).port)
  const share = [Math.ceil(connections / 2), Math.floor(connections / 2)]
  const states = share.map(() => ({ opened: 0, closed: 0, failed: 0 }))
  const started = Date.now()
  const attackers = share.map((count, index) => {
    const child = spawn(process.execPath, ['-e', ATTACKER, String(port), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let buffer = ''
    child.stdout.on('data', (chunk) => {
      buffer += chunk
      const lines = buffer.split('\n')
      buffer = lines.pop()
      if (lines.length) states[index] = JSON.parse(lines.at(-1))
    })
    return child
  })
  try {
    const total = (key) => states.reduce((sum, state) => sum + state[key], 0)
    let allClosedAt = null
    const deadline = Date.now() + 120000
    while (Date.now() < deadline) {
      if (total('opened') + total('failed') >= connections && total('closed') + total('failed') >= connections) {
        allClosedAt = Date.now()
        break
      }
      await sleep(100)
    }
    const healthStart = Date.now()
    const health = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(10000) }).then((response) => response.status, () => null)
    const healthSeconds = (Date.now() - healthStart) / 1000
    const syncStart = Date.now()
    const client = connectProvider(server, 'after-the-attack')
    const syncedOk = await within(synced(client.provider), 30000, 'sync').then(() => true, () => false)
    const syncSeconds = (Date.now() - syncStart) / 1000
    client.close()
    const attackersRunning = attackers.every((child) => child.exitCode === null)
    return {
      part: 'half-open',
      connections,
      opened: total('opened'),
      connect_failed: total('failed'),
      closed_by_server: total('closed'),
      all_closed_after_seconds: allClosedAt === null ? null : (allClosedAt - started) / 1000,
      healthz_status: health,
      healthz_seconds: healthSeconds,
      client_synced: syncedOk,
      client_sync_seconds: syncSeconds,
      attackers_still_running: attackersRunning,
      server_log_lines: logLinesBefore === null ? null : server.log().split('\n').length - logLinesBefore
    }
  } finally {
    attackers.forEach((child) => child.kill('SIGKILL'))
    await server.stop()
  }
}

if (!existsSync(releaseBin)) {
  console.error(`no release build at ${releaseBin}: run \`cargo build --release --bin quire\``)
  process.exit(2)
}
const parts = positionals.length ? positionals : ['stalled', 'half-open']
for (const part of parts) {
  const result = part === 'stalled'
    ? await stalledReaders(Number(values.readers), Number(values.seconds))
    : await halfOpen(Number(values.connections))
  console.log(JSON.stringify(result))
}
process.exit(0)
