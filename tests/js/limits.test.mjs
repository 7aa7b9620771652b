// Abuse limits: each one refuses clearly, and only the offender.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { startQuire, connectProvider, synced, docSatisfies } from './harness.mjs'

/** Opens a raw socket; resolves with it once open, or with the HTTP status and body of a refused upgrade. */
function open (url) {
  const socket = new WebSocket(url)
  socket.on('error', () => {})
  return new Promise((resolve) => {
    socket.once('open', () => resolve({ socket, status: 101 }))
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk) => { body += chunk })
      response.on('end', () => { resolve({ status: response.statusCode, body }); socket.terminate() })
    })
  })
}

/** A TCP connection that sends the start of an upgrade request and nothing more. */
function halfOpen (url) {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write('GET /ws/held HTTP/1.1\r\nHost: x\r\n')
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

const closeCode = (socket) => new Promise((resolve) => socket.once('close', (code) => resolve(code)))

/** An update that would pass --max-document-bytes is refused with 4413 and not stored; others go on. */
test('document size limit', async () => {
  const server = await startQuire(['--max-document-bytes', '4096'])
  const writer = connectProvider(server, 'bounded')
  await synced(writer.provider)
  writer.text.insert(0, 'small start')
  const observer = connectProvider(server, 'bounded')
  await docSatisfies(observer.doc, () => observer.text.toString() === 'small start')
  const closed = new Promise((resolve) => writer.provider.ws.addEventListener('close', (event) => resolve(event.code)))
  writer.provider.shouldConnect = false
  writer.text.insert(0, 'x'.repeat(10000))
  assert.equal(await closed, 4413)
  const stored = await (await fetch(`${server.url}/api/docs/bounded/snapshot?format=text`)).text()
  assert.equal(stored, 'small start', 'the oversized update was not applied')
  observer.text.insert(observer.text.length, ', still editable')
  const again = connectProvider(server, 'bounded')
  await docSatisfies(again.doc, () => again.text.toString() === 'small start, still editable')
  ;[writer, observer, again].forEach((client) => client.close())
  await server.stop()
})

/** Connections past the per-address limit get 429, past the total 503; a closed one frees its place. */
test('connection limits', async () => {
  const perAddress = await startQuire(['--max-connections-per-ip', '2'])
  const first = await open(`${perAddress.wsUrl}/room`)
  const second = await open(`${perAddress.wsUrl}/room`)
  assert.equal((await open(`${perAddress.wsUrl}/room`)).status, 429)
  const gone = closeCode(first.socket)
  first.socket.close()
  await gone
  let retry = await open(`${perAddress.wsUrl}/room`)
  // The server frees the place when it has finished closing; until then it answers 429.
  while (retry.status === 429) retry = await open(`${perAddress.wsUrl}/room`)
  assert.equal(retry.status, 101)
  retry.socket.close()
  second.socket.close()
  await perAddress.stop()

  const total = await startQuire(['--max-connections', '2'])
  const held = [await open(`${total.wsUrl}/a`), await open(`${total.wsUrl}/b`)]
  assert.equal((await open(`${total.wsUrl}/c`)).status, 503)
  held.forEach(({ socket }) => socket.close())
  await total.stop()
})

/** --max-connections counts connections from accept: half-open ones fill it, the next client gets 503 with its JSON error, and closing them frees the places. */
test('connection limit counts from accept', async () => {
  const server = await startQuire(['--max-connections', '3'])
  // Accepted in the order their TCP handshakes completed, so these three are taken first.
  const held = []
  for (let i = 0; i < 3; i++) held.push(await halfOpen(server.url))
  const refusedSocket = await open(`${server.wsUrl}/doc`)
  assert.equal(refusedSocket.status, 503)
  assert.equal(JSON.parse(refusedSocket.body).code, 'too_many_connections')
  const refusedRequest = await fetch(`${server.url}/healthz`)
  assert.equal(refusedRequest.status, 503)
  assert.equal((await refusedRequest.json()).code, 'too_many_connections')

  held.forEach((socket) => socket.destroy())
  // y-websocket retries a refused upgrade; it syncs once the server has let the places go.
  const client = connectProvider(server, 'doc')
  await synced(client.provider)
  client.close()
  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  const refusals = metrics.match(/quire_refused_total\{reason="too_many_connections"\} (\d+)/)
  assert.ok(refusals && Number(refusals[1]) >= 2, `refusals counted: ${refusals && refusals[0]}`)
  await server.stop()
})

/** A client flooding faster than --max-messages-per-second is closed with 4429 while the others in its room keep working. */
test('message rate limit holds under a flood, others unaffected', async () => {
  const server = await startQuire(['--max-messages-per-second', '20'])
  const alice = connectProvider(server, 'flooded')
  const bob = connectProvider(server, 'flooded')
  await Promise.all([synced(alice.provider), synced(bob.provider)])
  const { socket } = await open(`${server.wsUrl}/flooded`)
  const closed = closeCode(socket)
  const doc = new Y.Doc()
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  syncProtocol.writeSyncStep1(encoder, doc)
  const frame = encoding.toUint8Array(encoder)
  const flood = (async () => {
    while (socket.readyState === WebSocket.OPEN) {
      socket.send(frame)
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  // While the flood goes on, Alice and Bob keep editing and see each other's edits.
  alice.text.insert(0, 'alice during the flood. ')
  bob.text.insert(0, 'bob during the flood. ')
  await docSatisfies(alice.doc, () => alice.text.toString().includes('bob during'))
  await docSatisfies(bob.doc, () => bob.text.toString().includes('alice during'))
  assert.equal(await closed, 4429)
  await flood
  alice.text.insert(alice.text.length, 'after.')
  await docSatisfies(bob.doc, () => bob.text.toString().endsWith('after.'))
  alice.close()
  bob.close()
  await server.stop()
})

/** Past --max-rooms documents in memory, a join to another document is closed with 1013. */
test('rooms in memory limit', async () => {
  const server = await startQuire(['--max-rooms', '2'])
  const a = connectProvider(server, 'room-a')
  const b = connectProvider(server, 'room-b')
  await Promise.all([synced(a.provider), synced(b.provider)])
  const refused = async () => Number((await (await fetch(`${server.url}/metrics`)).text())
    .match(/^quire_refused_total\{reason="too_many_rooms"\} (\S+)/m)?.[1] ?? 0)
  const refusedBefore = await refused()
  const { socket } = await open(`${server.wsUrl}/room-c`)
  assert.equal(await closeCode(socket), 1013)
  assert.equal(await refused(), refusedBefore + 1, 'the refusal is counted')
  const sameRoom = connectProvider(server, 'room-a')
  await synced(sameRoom.provider)
  ;[a, b, sameRoom].forEach((client) => client.close())
  await server.stop()
})
