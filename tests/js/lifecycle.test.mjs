// Operating Quire: SIGTERM while clients edit, readiness during shutdown, metrics that move.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startQuire, connectProvider, synced, docSatisfies } from './harness.mjs'

/** The value of a metric line (name with labels, exactly as rendered), or 0 when absent. */
async function metric (server, series) {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line ? Number(line.slice(series.length + 1)) : 0
}

/** Resolves once the metric satisfies `holds` (the server has no push channel for metrics). */
async function metricSatisfies (server, series, holds) {
  while (!holds(await metric(server, series))) await new Promise((resolve) => setTimeout(resolve, 20))
}

/** SIGTERM mid-edit: clients get 1001, readiness flips to 503, exit 0, and every observed edit is on disk. */
test('SIGTERM while clients are editing', async () => {
  const server = await startQuire()
  const rooms = ['term-a', 'term-b']
  const writers = rooms.map((room) => connectProvider(server, room))
  const observers = rooms.map((room) => connectProvider(server, room))
  await Promise.all([...writers, ...observers].map(({ provider }) => synced(provider)))
  const closeCodes = observers.map(({ provider }) =>
    new Promise((resolve) => provider.ws.addEventListener('close', (event) => resolve(event.code))))
  writers.forEach(({ provider }) => { provider.shouldConnect = false })
  observers.forEach(({ provider }) => { provider.shouldConnect = false })

  // Writers keep typing; stop the server once the observers have seen a good part of it.
  let typing = true
  const typed = writers.map(async ({ text }, index) => {
    for (let edit = 0; typing; edit++) {
      text.insert(text.length, `[${index}.${edit}]`)
      await new Promise((resolve) => setImmediate(resolve))
    }
  })
  await Promise.all(observers.map(({ doc, text }) => docSatisfies(doc, () => text.toString().includes('.50]'))))
  process.kill(server.pid, 'SIGTERM')
  let readiness = 200
  while (readiness === 200) {
    readiness = await fetch(`${server.url}/readyz`).then((response) => response.status, () => 'refused')
  }
  assert.equal(readiness, 503, 'readiness flips before the listener closes')
  assert.deepEqual(await Promise.all(closeCodes), [1001, 1001])
  typing = false
  await Promise.all(typed)
  const seen = observers.map(({ text }) => text.toString())
  const { code } = await server.exited
  assert.equal(code, 0)

  const restarted = await startQuire([], { dataDir: server.dataDir })
  for (const [index, room] of rooms.entries()) {
    const reader = connectProvider(restarted, room)
    await synced(reader.provider)
    const pieces = seen[index].match(/\[\d+\.\d+\]/g)
    assert.ok(pieces.length > 50)
    for (const piece of pieces) assert.ok(reader.text.toString().includes(piece), `${room} kept ${piece}`)
    reader.close()
  }
  await restarted.stop()
  ;[...writers, ...observers].forEach((client) => client.close())
})

/** Metrics move when things happen: connections, edits, disconnects, refusals. */
test('metrics follow connections, edits and refusals', async () => {
  // The room must stay loaded while its client idles, for quire_rooms_loaded to read 1.
  const server = await startQuire(['--document-idle-seconds', '0'])
  const open = 'quire_connections_open{protocol="y-websocket"}'
  const updates = 'quire_messages_received_total{type="update"}'
  const refusedNames = 'quire_refused_total{reason="invalid_room_name"}'
  const rooms = 'quire_rooms_loaded'
  assert.equal(await metric(server, open), 0)

  const client = connectProvider(server, 'measured')
  await synced(client.provider)
  await metricSatisfies(server, open, (value) => value === 1)
  assert.equal(await metric(server, rooms), 1)
  const updatesBefore = await metric(server, updates)
  client.text.insert(0, 'counted')
  await metricSatisfies(server, updates, (value) => value === updatesBefore + 1)

  const refusedBefore = await metric(server, refusedNames)
  assert.equal((await fetch(`${server.url}/ws/bad%0Aname`)).status, 400)
  await metricSatisfies(server, refusedNames, (value) => value === refusedBefore + 1)

  const malformed = 'quire_refused_total{reason="malformed_frame"}'
  const malformedBefore = await metric(server, malformed)
  const { default: WebSocket } = await import('ws')
  const raw = new WebSocket(`${server.wsUrl}/measured`)
  await new Promise((resolve) => raw.once('open', resolve))
  const closed = new Promise((resolve) => raw.once('close', resolve))
  raw.send(Buffer.from([0, 2, 10, 1]))
  assert.equal(await closed, 1007)
  await metricSatisfies(server, malformed, (value) => value === malformedBefore + 1)

  client.close()
  await metricSatisfies(server, open, (value) => value === 0)
  await metricSatisfies(server, rooms, (value) => value === 0)
  const text = await (await fetch(`${server.url}/metrics`)).text()
  assert.match(text, /quire_storage_seconds_bucket\{operation="flush"/)
  assert.match(text, /quire_process_resident_memory_bytes \d+/)
  await server.stop()
})
