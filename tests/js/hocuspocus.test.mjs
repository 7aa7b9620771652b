// The /hocuspocus endpoint against the real npm @hocuspocus/provider (4.x), as Tiptap uses it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { startQuire, connectProvider, synced, docSatisfies, awarenessSatisfies, quireBin } from './harness.mjs'

const SECRET = 'hocuspocus test secret'
let open
let secured
before(async () => {
  ;[open, secured] = await Promise.all([startQuire(), startQuire(['--auth-secret', SECRET])])
})
after(async () => { await Promise.all([open.stop(), secured.stop()]) })

const hocuspocusUrl = (server) => server.url.replace(/^http/, 'ws') + '/hocuspocus'

/** One WebSocket that several documents share, as an editor with many documents uses it. */
function openSocket (server) {
  return new HocuspocusProviderWebsocket({ url: hocuspocusUrl(server), WebSocketPolyfill: WebSocket })
}

/** A provider for document `name` on `socket`, with its own Y.Doc. */
function openDocument (socket, name, { token = null } = {}) {
  const doc = new Y.Doc()
  const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc, token })
  // Providers given a shared socket attach explicitly.
  provider.attach()
  return {
    doc,
    provider,
    text: doc.getText('text'),
    close () {
      provider.destroy()
      doc.destroy()
    }
  }
}

/** Resolves with the first `event` of `emitter` whose payload satisfies `predicate`. */
function nextEvent (emitter, event, predicate = () => true) {
  return new Promise((resolve) => {
    const handler = (payload) => {
      if (predicate(payload)) {
        emitter.off(event, handler)
        resolve(payload)
      }
    }
    emitter.on(event, handler)
  })
}

/** Resolves once the provider has had its first sync with the server. */
function hocuspocusSynced (provider) {
  return provider.isSynced ? Promise.resolve() : nextEvent(provider, 'synced')
}

/** Resolves once the server has acknowledged every update the provider sent. */
function allAcknowledged (provider) {
  return provider.unsyncedChanges === 0
    ? Promise.resolve()
    : nextEvent(provider, 'unsyncedChanges', ({ number }) => number === 0)
}

/** A token minted by `quire token`, as an operator would. */
function token (doc, access, secret = SECRET) {
  const minted = spawnSync(quireBin, ['token', '--doc', doc, '--access', access, '--ttl', '10m', '--secret', secret])
  assert.equal(minted.status, 0, minted.stderr.toString())
  return minted.stdout.toString().trim()
}

/** The document's text as stored on the server, read over the HTTP API. */
async function storedText (server, name, bearer) {
  const response = await fetch(`${server.url}/api/docs/${encodeURIComponent(name)}/snapshot`, {
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {}
  })
  assert.equal(response.status, 200)
  const doc = new Y.Doc()
  Y.applyUpdate(doc, new Uint8Array(await response.arrayBuffer()))
  return doc.getText('text').toString()
}

// Two providers on one document, each on its own socket, see each other's edits.
test('two Hocuspocus providers on one document converge', async () => {
  const sockets = [openSocket(open), openSocket(open)]
  const [ada, bob] = sockets.map((socket) => openDocument(socket, 'hp-converge'))
  await Promise.all([hocuspocusSynced(ada.provider), hocuspocusSynced(bob.provider)])
  ada.text.insert(0, 'from ada. ')
  bob.text.insert(0, 'from bob. ')
  const both = (client) => () => client.text.toString().includes('from ada') && client.text.toString().includes('from bob')
  await Promise.all([docSatisfies(ada.doc, both(ada)), docSatisfies(bob.doc, both(bob))])
  assert.equal(ada.text.toString(), bob.text.toString())
  ada.close(); bob.close()
  sockets.forEach((socket) => socket.destroy())
})

// One socket carries two documents; each syncs its own content and nothing leaks between them.
test('one socket multiplexes two documents', async () => {
  const writerSocket = openSocket(open)
  const notes = openDocument(writerSocket, 'hp-multi-notes')
  const plan = openDocument(writerSocket, 'hp-multi/plan')
  await Promise.all([hocuspocusSynced(notes.provider), hocuspocusSynced(plan.provider)])
  notes.text.insert(0, 'only in notes')
  plan.text.insert(0, 'only in plan')
  await Promise.all([allAcknowledged(notes.provider), allAcknowledged(plan.provider)])

  const readerSocket = openSocket(open)
  const notesReader = openDocument(readerSocket, 'hp-multi-notes')
  const planReader = openDocument(readerSocket, 'hp-multi/plan')
  await Promise.all([hocuspocusSynced(notesReader.provider), hocuspocusSynced(planReader.provider)])
  assert.equal(notesReader.text.toString(), 'only in notes')
  assert.equal(planReader.text.toString(), 'only in plan')
  // Live edits keep to their document too.
  plan.text.insert(0, 'live: ')
  await docSatisfies(planReader.doc, () => planReader.text.toString() === 'live: only in plan')
  assert.equal(notesReader.text.toString(), 'only in notes')
  assert.equal(await storedText(open, 'hp-multi-notes'), 'only in notes')
  assert.equal(await storedText(open, 'hp-multi/plan'), 'live: only in plan')
  for (const client of [notes, plan, notesReader, planReader]) client.close()
  writerSocket.destroy(); readerSocket.destroy()
})

/** The SyncStatus answers a provider receives: true for applied, false for refused. */
function recordSyncStatuses (provider) {
  const statuses = []
  provider.on('message', ({ message }) => {
    const decoder = decoding.createDecoder(new Uint8Array(message.data))
    decoding.readVarString(decoder)
    if (decoding.readVarUint(decoder) === 8) statuses.push(decoding.readVarInt(decoder) === 1)
  })
  return statuses
}

// Tokens decide per document: read-write, read-only (whose edits are refused and reach no one),
// and refused outright with a reason.
test('tokens grant read-write, read-only or nothing, per document', async () => {
  const socket = openSocket(secured)
  const writer = openDocument(socket, 'hp-guarded', { token: token('hp-guarded', 'write') })
  const writerScope = await nextEvent(writer.provider, 'authenticated')
  assert.equal(writerScope.scope, 'read-write')
  await hocuspocusSynced(writer.provider)
  writer.text.insert(0, 'written by the owner')
  await allAcknowledged(writer.provider)

  const readerSocket = openSocket(secured)
  const reader = openDocument(readerSocket, 'hp-guarded', { token: token('hp-guarded', 'read') })
  const statuses = recordSyncStatuses(reader.provider)
  assert.equal((await nextEvent(reader.provider, 'authenticated')).scope, 'readonly')
  assert.equal(reader.provider.authorizedScope, 'readonly')
  await hocuspocusSynced(reader.provider)
  await docSatisfies(reader.doc, () => reader.text.toString() === 'written by the owner')
  await allAcknowledged(reader.provider)

  // The read-only client is told its edit was refused, and the edit stays unsynced.
  reader.text.insert(0, 'VANDALISM ')
  await nextEvent(reader.provider, 'message', () => statuses.includes(false))
  assert.ok(reader.provider.hasUnsyncedChanges, 'a refused edit is not counted as synced')
  // The refusal came back before the writer's next edit, which reaches the reader; the refused
  // edit reached neither the writer nor storage.
  writer.text.insert(writer.text.length, '; later')
  await docSatisfies(reader.doc, () => reader.text.toString().includes('; later'))
  await allAcknowledged(writer.provider)
  assert.equal(writer.text.toString(), 'written by the owner; later')
  const admin = token('hp-guarded', 'admin')
  assert.equal(await storedText(secured, 'hp-guarded', admin), 'written by the owner; later')

  // Refused tokens: the document is denied with a reason, the socket's other documents go on.
  const forged = openDocument(socket, 'hp-guarded-2', { token: token('hp-guarded-2', 'write', 'another secret') })
  assert.match((await nextEvent(forged.provider, 'authenticationFailed')).reason, /invalid/)
  const elsewhere = openDocument(socket, 'hp-guarded-3', { token: token('another-document', 'admin') })
  assert.match((await nextEvent(elsewhere.provider, 'authenticationFailed')).reason, /does not grant access/)
  const missing = openDocument(socket, 'hp-guarded-4')
  assert.match((await nextEvent(missing.provider, 'authenticationFailed')).reason, /token is required/)
  const invalidName = openDocument(socket, 'bad\nname', { token: token('*', 'admin') })
  assert.match((await nextEvent(invalidName.provider, 'authenticationFailed')).reason, /control character/)
  writer.text.insert(writer.text.length, '; still open')
  await docSatisfies(reader.doc, () => reader.text.toString().endsWith('; still open'))
  for (const client of [writer, reader, forged, elsewhere, missing, invalidName]) client.close()
  socket.destroy(); readerSocket.destroy()
})

// A y-websocket client and a Hocuspocus provider share one document: edits and presence.
test('y-websocket and Hocuspocus clients of one document see each other', async () => {
  const socket = openSocket(open)
  const tiptap = openDocument(socket, 'hp-mixed')
  const classic = connectProvider(open, 'hp-mixed')
  await Promise.all([hocuspocusSynced(tiptap.provider), synced(classic.provider)])
  tiptap.text.insert(0, 'from tiptap. ')
  classic.text.insert(0, 'from y-websocket. ')
  const both = (client) => () => client.text.toString().includes('from tiptap') && client.text.toString().includes('from y-websocket')
  await Promise.all([docSatisfies(tiptap.doc, both(tiptap)), docSatisfies(classic.doc, both(classic))])
  assert.equal(tiptap.text.toString(), classic.text.toString())

  tiptap.provider.setAwarenessField('user', { name: 'Tiptap Ada' })
  classic.provider.awareness.setLocalStateField('user', { name: 'Classic Bob' })
  const sees = (awareness, name) => () =>
    [...awareness.getStates().values()].some((state) => state.user?.name === name)
  await Promise.all([
    awarenessSatisfies(classic.provider.awareness, sees(classic.provider.awareness, 'Tiptap Ada')),
    awarenessSatisfies(tiptap.provider.awareness, sees(tiptap.provider.awareness, 'Classic Bob'))
  ])
  tiptap.close(); classic.close(); socket.destroy()
})

// SyncStatus comes once an update is durable: when unsyncedChanges is back to 0, the edits
// survive kill -9.
test('acknowledged edits survive kill -9', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-hocuspocus-'))
  let server = await startQuire([], { dataDir })
  const socket = openSocket(server)
  const writer = openDocument(socket, 'hp-durable')
  await hocuspocusSynced(writer.provider)
  await allAcknowledged(writer.provider)
  for (let edit = 0; edit < 20; edit++) writer.text.insert(writer.text.length, `<${edit}>`)
  assert.ok(writer.provider.unsyncedChanges > 0, 'edits wait for their acknowledgement')
  await allAcknowledged(writer.provider)
  const written = writer.text.toString()
  await server.crash()
  writer.close(); socket.destroy()

  server = await startQuire([], { dataDir })
  const readerSocket = openSocket(server)
  const reader = openDocument(readerSocket, 'hp-durable')
  await hocuspocusSynced(reader.provider)
  assert.equal(reader.text.toString(), written)
  reader.close(); readerSocket.destroy()
  await server.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

// Stateless messages reach the document's other providers only, not the sender nor other
// documents (even on the sender's own socket).
test('stateless messages are relayed within their document', async () => {
  const socket = openSocket(open)
  const sender = openDocument(socket, 'hp-chat')
  const neighbour = openDocument(socket, 'hp-elsewhere')
  const otherSocket = openSocket(open)
  const listener = openDocument(otherSocket, 'hp-chat')
  const outsider = openDocument(otherSocket, 'hp-elsewhere')
  await Promise.all([sender, neighbour, listener, outsider].map(({ provider }) => hocuspocusSynced(provider)))
  const received = new Map([sender, neighbour, listener, outsider].map((client) => [client, []]))
  for (const [client, payloads] of received) client.provider.on('stateless', ({ payload }) => payloads.push(payload))

  const heard = nextEvent(listener.provider, 'stateless')
  sender.provider.sendStateless(JSON.stringify({ action: 'saved' }))
  assert.deepEqual(JSON.parse((await heard).payload), { action: 'saved' })
  // A message on the other document gets through; by then the first one would have too.
  const outsiderHeard = nextEvent(neighbour.provider, 'stateless')
  outsider.provider.sendStateless('elsewhere')
  assert.equal((await outsiderHeard).payload, 'elsewhere')
  assert.deepEqual(received.get(neighbour), ['elsewhere'])
  assert.deepEqual(received.get(sender), [])
  assert.deepEqual(received.get(outsider), [])
  for (const client of [sender, neighbour, listener, outsider]) client.close()
  socket.destroy(); otherSocket.destroy()
})

// Deleting a document closes it for its Hocuspocus clients, not their sockets' other documents.
test('a deleted document closes alone', async () => {
  const socket = openSocket(open)
  const doomed = openDocument(socket, 'hp-doomed')
  const kept = openDocument(socket, 'hp-kept')
  await Promise.all([hocuspocusSynced(doomed.provider), hocuspocusSynced(kept.provider)])
  doomed.text.insert(0, 'soon gone')
  await allAcknowledged(doomed.provider)
  const closed = nextEvent(doomed.provider, 'close')
  assert.equal((await fetch(`${open.url}/api/docs/hp-doomed`, { method: 'DELETE' })).status, 204)
  assert.equal((await closed).event.reason, 'document deleted')

  const otherSocket = openSocket(open)
  const other = openDocument(otherSocket, 'hp-kept')
  await hocuspocusSynced(other.provider)
  other.text.insert(0, 'still live')
  await docSatisfies(kept.doc, () => kept.text.toString() === 'still live')
  kept.text.insert(kept.text.length, '!')
  await allAcknowledged(kept.provider)
  for (const client of [doomed, kept, other]) client.close()
  socket.destroy(); otherSocket.destroy()
})

/** A raw WebSocket to /hocuspocus, collecting the frames it receives. */
async function rawSocket (server) {
  const socket = new WebSocket(hocuspocusUrl(server))
  socket.binaryType = 'nodebuffer'
  const frames = []
  socket.on('message', (data) => frames.push(new Uint8Array(data)))
  const closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  return { socket, frames, closed }
}

/** An auth message for `name`, as the provider sends it. */
function authFrame (name, token = '') {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, name)
  encoding.writeVarUint(encoder, 2)
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarString(encoder, token)
  return encoding.toUint8Array(encoder)
}

/** Auth answers in `frames`: [name, 'authenticated' | 'denied', scope or reason]. */
function authAnswers (frames) {
  return frames.flatMap((frame) => {
    const decoder = decoding.createDecoder(frame)
    const name = decoding.readVarString(decoder)
    if (decoding.readVarUint(decoder) !== 2) return []
    const kind = decoding.readVarUint(decoder) === 2 ? 'authenticated' : 'denied'
    return [[name, kind, decoding.readVarString(decoder)]]
  })
}

// Malformed frames close the socket with 1007 and say why.
test('malformed frames close the socket with a reason', async () => {
  const truncatedName = await rawSocket(open)
  truncatedName.socket.send(new Uint8Array([9, 104, 105]))
  const refused = await truncatedName.closed
  assert.equal(refused.code, 1007)
  assert.match(refused.reason, /^malformed document name/)

  const text = await rawSocket(open)
  text.socket.send('hello')
  assert.equal((await text.closed).code, 1007)

  // A document's garbage update ends the socket too, after the document opened.
  const badUpdate = await rawSocket(open)
  badUpdate.socket.send(authFrame('hp-malformed'))
  await new Promise((resolve) => badUpdate.socket.once('message', resolve))
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, 'hp-malformed')
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, 2)
  encoding.writeVarUint8Array(encoder, new Uint8Array([255, 255, 255, 255, 15]))
  badUpdate.socket.send(encoding.toUint8Array(encoder))
  const { code, reason } = await badUpdate.closed
  assert.equal(code, 1007)
  assert.match(reason, /update/)
})

// A socket may hold 100 documents; the next one is refused alone, with the reason.
test('one socket opens at most 100 documents', async () => {
  const { socket, frames } = await rawSocket(open)
  for (let index = 0; index <= 100; index++) socket.send(authFrame(`hp-many/${index}`))
  while (authAnswers(frames).length < 101) await new Promise((resolve) => socket.once('message', resolve))
  const answers = authAnswers(frames)
  assert.equal(answers.filter(([, kind]) => kind === 'authenticated').length, 100)
  assert.deepEqual(answers.filter(([, kind]) => kind === 'denied'), [
    ['hp-many/100', 'denied', 'this connection has 100 documents open; close one first']
  ])
  socket.close()
})

// Clients without presence leave their document idle long enough for it to sleep; the next edit
// from either protocol wakes it, reaches the other, and is still acknowledged once durable.
test('a sleeping document wakes for its Hocuspocus and y-websocket clients', async () => {
  const server = await startQuire(['--document-idle-seconds', '1'])
  const socket = openSocket(server)
  const tiptap = openDocument(socket, 'hp-sleep')
  const classic = connectProvider(server, 'hp-sleep')
  await Promise.all([hocuspocusSynced(tiptap.provider), synced(classic.provider)])
  // Live presence keeps a document in memory (it lives nowhere else): these clients show none.
  tiptap.provider.awareness.setLocalState(null)
  classic.provider.awareness.setLocalState(null)
  tiptap.text.insert(0, 'before sleep')
  await allAcknowledged(tiptap.provider)
  await docSatisfies(classic.doc, () => classic.text.toString() === 'before sleep')

  const inMemory = async () => (await (await fetch(`${server.url}/api/docs/hp-sleep`)).json()).in_memory
  const deadline = Date.now() + 20000
  while (await inMemory()) {
    assert.ok(Date.now() < deadline, 'the idle document was let go of')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  classic.text.insert(classic.text.length, ', after')
  await docSatisfies(tiptap.doc, () => tiptap.text.toString() === 'before sleep, after')
  tiptap.text.insert(tiptap.text.length, '!')
  await allAcknowledged(tiptap.provider)
  await docSatisfies(classic.doc, () => classic.text.toString() === 'before sleep, after!')
  assert.equal(await storedText(server, 'hp-sleep'), 'before sleep, after!')
  tiptap.close(); classic.close(); socket.destroy()
  await server.stop()
})
