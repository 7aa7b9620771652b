// Interop: Quire serves the stock npm `yjs` + `y-websocket` client unchanged.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { startQuire, connectProvider, synced, docSatisfies, awarenessSatisfies } from './harness.mjs'

let server
before(async () => { server = await startQuire() })
after(async () => {
  const { code } = await server.stop()
  assert.equal(code, 0, 'quire exits 0 on SIGTERM')
})

/** Several y-websocket clients typing at once end with the same text holding every edit. */
test('concurrent y-websocket clients converge', async () => {
  const clients = [0, 1, 2, 3].map(() => connectProvider(server, 'converge'))
  await Promise.all(clients.map(({ provider }) => synced(provider)))
  clients.forEach(({ doc, text }, index) => {
    for (let edit = 0; edit < 25; edit++) {
      // At either end, so no piece splits another and each stays findable as a whole.
      doc.transact(() => text.insert(edit % 2 === 0 ? 0 : text.length, `[${index}:${edit}]`))
    }
  })
  const everyEdit = (text) => clients.every((_, index) =>
    Array.from({ length: 25 }, (_, edit) => `[${index}:${edit}]`).every((piece) => text.toString().includes(piece)))
  await Promise.all(clients.map(({ doc, text }) => docSatisfies(doc, () => everyEdit(text))))
  const texts = clients.map(({ text }) => text.toString())
  assert.equal(new Set(texts).size, 1, 'all clients hold identical text')
  const pieces = clients.flatMap((_, index) => Array.from({ length: 25 }, (_, edit) => `[${index}:${edit}]`))
  assert.equal(texts[0].length, pieces.reduce((sum, piece) => sum + piece.length, 0), 'no edit lost or doubled')
  clients.forEach((client) => client.close())
})

/** A client joining after edits receives the whole document in its first sync. */
test('late joiner receives the full state', async () => {
  const writer = connectProvider(server, 'late-joiner')
  await synced(writer.provider)
  writer.text.insert(0, 'written before you came')
  writer.doc.getMap('meta').set('title', 'Plans')
  writer.doc.getArray('tags').push(['a', 'b'])
  const reader = connectProvider(server, 'late-joiner')
  await synced(reader.provider)
  await docSatisfies(reader.doc, () => reader.text.toString() === 'written before you came')
  assert.equal(reader.doc.getMap('meta').get('title'), 'Plans')
  assert.deepEqual(reader.doc.getArray('tags').toArray(), ['a', 'b'])
  writer.close()
  reader.close()
})

/** Awareness states reach other clients, and vanish when their client disconnects. */
test('awareness round-trips and is removed on disconnect', async () => {
  const alice = connectProvider(server, 'presence')
  const bob = connectProvider(server, 'presence')
  await Promise.all([synced(alice.provider), synced(bob.provider)])
  alice.provider.awareness.setLocalStateField('user', { name: 'Alice', color: '#f00' })
  const aliceId = alice.doc.clientID
  await awarenessSatisfies(bob.provider.awareness,
    () => bob.provider.awareness.getStates().get(aliceId)?.user?.name === 'Alice')

  // A client joining now sees Alice at once, without waiting for her 15 s renewal.
  const carol = connectProvider(server, 'presence')
  await awarenessSatisfies(carol.provider.awareness,
    () => carol.provider.awareness.getStates().get(aliceId)?.user?.name === 'Alice')

  // Dropping the socket without a goodbye: the server announces the removal.
  alice.provider.awareness.off('update', alice.provider._awarenessUpdateHandler)
  alice.provider.ws.terminate()
  alice.provider.shouldConnect = false
  await awarenessSatisfies(bob.provider.awareness, () => !bob.provider.awareness.getStates().has(aliceId))
  await awarenessSatisfies(carol.provider.awareness, () => !carol.provider.awareness.getStates().has(aliceId))
  alice.close()
  bob.close()
  carol.close()
})

/** Every frame the server sends holds exactly one message, as y-websocket's readMessage needs. */
test('server sends one message per frame', async () => {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, 'hello')
  const socket = new WebSocket(`${server.wsUrl}/one-per-frame`)
  socket.binaryType = 'arraybuffer'
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  const frames = []
  const gotStep1 = new Promise((resolve) => {
    socket.on('message', (data) => {
      frames.push(new Uint8Array(data))
      const decoder = decoding.createDecoder(new Uint8Array(data))
      if (decoding.readVarUint(decoder) === 0 && decoding.readVarUint(decoder) === 0) resolve()
    })
  })
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  syncProtocol.writeSyncStep1(encoder, doc)
  socket.send(encoding.toUint8Array(encoder))
  await gotStep1
  assert.ok(frames.length >= 2, 'a SyncStep2 and a SyncStep1 arrived')
  for (const frame of frames) {
    const decoder = decoding.createDecoder(frame)
    const type = decoding.readVarUint(decoder)
    assert.equal(type, 0, 'sync message')
    decoding.readVarUint(decoder)
    decoding.readVarUint8Array(decoder)
    assert.equal(decoding.hasContent(decoder), false, 'nothing after the first message')
  }
  socket.close()
})
