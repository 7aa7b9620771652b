// Overload and abuse (issue #20), against the release binary: clients that stop reading cost a
// bounded amount of memory and are cut after the send timeout, and a client sending more bytes a
// second than allowed is closed with 4429 without losing what it sent.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as encoding from 'lib0/encoding'
import { startQuire, connectProvider, synced, docSatisfies, within, watchMemory, until, connectHocuspocus } from './harness.mjs'
import { stalledReader } from './raw-clients.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const releaseBin = process.env.QUIRE_RELEASE_BIN ?? join(here, '..', '..', 'target', 'release', 'quire')
const MiB = 1024 * 1024

/** A Hocuspocus Auth message opening `name` with an empty token. */
function hocuspocusAuth (name) {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, name)
  encoding.writeVarUint(encoder, 2)
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarString(encoder, '')
  return encoding.toUint8Array(encoder)
}

/** A metric's value in the server's /metrics (0 when absent). */
async function metric (server, pattern) {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const match = text.match(pattern)
  return match ? Number(match[1]) : 0
}

/** Clients that stop reading: memory stays bounded, they are cut after the send timeout, and a
 *  healthy reader of the same room receives every update; on `/ws` and on `/hocuspocus`. */
for (const protocol of ['y-websocket', 'hocuspocus']) {
  test(`stalled readers are cut after the send timeout, with memory bounded (${protocol})`, async (t) => {
    assert.ok(existsSync(releaseBin), `no release build at ${releaseBin}: run \`cargo build --release --bin quire\``)
    const server = await startQuire(['--send-timeout-seconds', '3', '--max-bytes-per-second', String(1024 * MiB),
      '--max-message-bytes', String(4 * MiB)], { bin: releaseBin })
    t.after(() => server.stop())
    const memory = watchMemory(server.pid)
    t.after(() => memory.stop())
    const writer = connectProvider(server, 'flood')
    const reader = connectProvider(server, 'flood')
    t.after(() => { writer.close(); reader.close() })
    await within(Promise.all([synced(writer.provider), synced(reader.provider)]), 10000, 'sync')
    const stalled = await Promise.all(Array.from({ length: 8 }, () => protocol === 'hocuspocus'
      ? stalledReader(server, '/hocuspocus', hocuspocusAuth('flood'))
      : stalledReader(server, '/ws/flood')))
    t.after(() => stalled.forEach((socket) => socket.destroy()))
    const open = () => metric(server, new RegExp(`quire_connections_open\\{protocol="${protocol}"\\} (\\d+)`))
    await within(until(async () => await open() >= stalled.length), 10000, 'the stalled readers to be connected')

    for (let round = 0; round < 30; round++) {
      writer.doc.transact(() => {
        writer.text.delete(0, writer.text.length)
        writer.text.insert(0, `${round}:`.padEnd(MiB, String.fromCharCode(97 + (round % 26))))
      })
      const expected = writer.text.toString()
      await within(docSatisfies(reader.doc, () => reader.text.toString() === expected), 20000, `round ${round} to reach the reader`)
    }
    await within(until(async () => await metric(server, /quire_slow_client_disconnects_total (\d+)/) >= stalled.length),
      20000, 'every stalled reader to be cut')
    const healthy = protocol === 'hocuspocus' ? 0 : 2
    await within(until(async () => await open() === healthy), 10000, 'only the healthy clients to stay connected')
    const peak = memory.peak
    console.log(`stalled readers (${protocol}): peak RSS ${(peak / MiB).toFixed(1)} MiB (${(memory.baseline / MiB).toFixed(1)} at start)`)
    // 8 stalled queues of at most 16 MiB each, the rounds' updates, and the server itself.
    assert.ok(peak < 400 * MiB, `peak RSS ${(peak / MiB).toFixed(1)} MiB`)
  })
}

/** A client over --max-bytes-per-second is closed with 4429, and everything the server took from
 *  it before is kept: relayed to the others and stored. (4429 is in y-websocket's final range, so
 *  the provider then stops, as for the message rate.) */
test('a writer over the byte rate is closed with 4429 and what it sent before is kept', async (t) => {
  assert.ok(existsSync(releaseBin), `no release build at ${releaseBin}: run \`cargo build --release --bin quire\``)
  const server = await startQuire(['--max-bytes-per-second', String(64 * 1024)], { bin: releaseBin })
  t.after(() => server.stop())
  const writer = connectProvider(server, 'fast')
  const reader = connectProvider(server, 'fast')
  t.after(() => { writer.close(); reader.close() })
  const closed = new Promise((resolve) => writer.provider.on('connection-close', (event) => resolve(event?.code)))
  await within(Promise.all([synced(writer.provider), synced(reader.provider)]), 10000, 'sync')
  // 40 updates of 20 KB at once: 800 KB, far past the 128 KB burst.
  const pieces = Array.from({ length: 40 }, (_, piece) => `${piece}`.padEnd(20_000, '-'))
  for (const piece of pieces) writer.text.insert(writer.text.length, piece)
  assert.equal(await within(closed, 10000, 'the writer to be closed'), 4429)
  assert.ok(await metric(server, /quire_refused_total\{reason="byte_rate_limited"\} (\d+)/) >= 1)

  // What the server took is whole pieces, in order, from the first; the reader gets all of it.
  const late = connectProvider(server, 'fast')
  t.after(() => late.close())
  await within(synced(late.provider), 10000, 'a late joiner to sync')
  const kept = late.text.toString()
  const count = Math.floor(kept.length / 20_000)
  assert.ok(count >= 1 && count < pieces.length, `${count} pieces taken before the limit`)
  assert.equal(kept, pieces.slice(0, count).join(''))
  await within(docSatisfies(reader.doc, () => reader.text.toString() === kept), 10000, 'the reader to have them all')
})

/** The same over /hocuspocus: a Hocuspocus writer past the byte rate has its socket closed with
 *  4429, and what the server holds of it is whole pieces from the first, which readers get. */
test('a Hocuspocus writer over the byte rate is closed with 4429 and what was taken is kept', async (t) => {
  assert.ok(existsSync(releaseBin), `no release build at ${releaseBin}: run \`cargo build --release --bin quire\``)
  const server = await startQuire(['--max-bytes-per-second', String(64 * 1024)], { bin: releaseBin })
  t.after(() => server.stop())
  const writer = connectHocuspocus(server, 'fast')
  const reader = connectProvider(server, 'fast')
  t.after(() => { writer.close(); reader.close() })
  const closed = new Promise((resolve) => writer.socket.on('close', ({ event }) => resolve(event?.code)))
  await within(Promise.all([writer.synced, synced(reader.provider)]), 10000, 'sync')
  const pieces = Array.from({ length: 40 }, (_, piece) => `${piece}`.padEnd(20_000, '-'))
  for (const piece of pieces) writer.text.insert(writer.text.length, piece)
  assert.equal(await within(closed, 10000, 'the writer to be closed'), 4429)
  writer.close()

  const late = connectProvider(server, 'fast')
  t.after(() => late.close())
  await within(synced(late.provider), 10000, 'a late joiner to sync')
  const kept = late.text.toString()
  const count = Math.floor(kept.length / 20_000)
  assert.ok(count >= 1, `${count} pieces taken`)
  assert.equal(kept, pieces.slice(0, count).join(''))
  await within(docSatisfies(reader.doc, () => reader.text.toString() === kept), 10000, 'the reader to have them all')
})

/** More half-open connections than the server has file descriptors: every one is closed within
 *  the handshake timeout (those past the limit at once), then /healthz answers and a stock
 *  client syncs while the attacker still holds its sockets, with a bounded number of log lines. */
test('half-open connections past the open-files limit are all closed, and service resumes', async (t) => {
  assert.ok(existsSync(releaseBin), `no release build at ${releaseBin}: run \`cargo build --release --bin quire\``)
  const server = await startQuire(['--handshake-timeout-seconds', '2', '--max-connections', '100000',
    '--max-connections-per-ip', '100000'], { bin: releaseBin })
  t.after(() => server.stop())
  execFileSync('prlimit', ['--pid', String(server.pid), '--nofile=256:256'])
  const { hostname, port } = new URL(server.url)
  const attackers = 600
  const closedAfter = []
  const sockets = Array.from({ length: attackers }, () => {
    const socket = connect(Number(port), hostname)
    const opened = Date.now()
    socket.on('connect', () => socket.write(`GET /ws/doc HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\n`))
    socket.on('close', () => closedAfter.push(Date.now() - opened))
    socket.on('error', () => {})
    return socket
  })
  t.after(() => sockets.forEach((socket) => socket.destroy()))
  await within(until(() => closedAfter.length === attackers), 20000, 'every half-open connection to be closed')
  console.log(`half-open: all ${attackers} closed, the last after ${Math.max(...closedAfter)} ms`)

  const started = Date.now()
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
  assert.ok(Date.now() - started < 1000, '/healthz answered within a second')
  const client = connectProvider(server, 'doc')
  t.after(() => client.close())
  await within(synced(client.provider), 10000, 'a stock client to sync')
  const lines = server.log().split('\n').filter((line) => /file descriptors|accepting a connection failed/.test(line))
  assert.ok(lines.length <= 10, `${lines.length} log lines about descriptors`)
})
