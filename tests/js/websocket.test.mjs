// Quire's WebSocket layer against the stock npm clients: messages larger than one fragment (the
// server sends them as fragmented WebSocket messages) arrive whole, and the size limit holds.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { HocuspocusProvider } from '@hocuspocus/provider'
import { startQuire, connectProvider, synced, docSatisfies } from './harness.mjs'

let server
let limited
const LIMIT = 64 * 1024
before(async () => {
  ;[server, limited] = await Promise.all([startQuire(), startQuire(['--max-message-bytes', String(LIMIT)])])
})
after(async () => { await Promise.all([server.stop(), limited.stop()]) })

/** About 1 MB of text, far more than one 16 KiB fragment, that a misplaced fragment would garble. */
const largeText = Array.from({ length: 80000 }, (_, line) => `line ${String(line).padStart(6, '0')}\n`).join('')

/** Writes `largeText` into `room` with a y-websocket client and leaves it connected. */
async function writeLargeDocument (room) {
  const writer = connectProvider(server, room)
  await synced(writer.provider)
  writer.text.insert(0, largeText)
  return writer
}

// A 1 MB document reaches a joining y-websocket client whole, and a live 1 MB update does too.
test('a 1 MB document reaches y-websocket clients whole', async () => {
  const early = connectProvider(server, 'large-y-websocket')
  await synced(early.provider)
  const writer = await writeLargeDocument('large-y-websocket')
  await docSatisfies(early.doc, () => early.text.length === largeText.length)
  assert.ok(early.text.toString() === largeText, 'the live update arrived whole')

  const late = connectProvider(server, 'large-y-websocket')
  await synced(late.provider)
  await docSatisfies(late.doc, () => late.text.length === largeText.length)
  assert.ok(late.text.toString() === largeText, 'the first sync arrived whole')
  ;[early, writer, late].forEach((client) => client.close())
})

// A Hocuspocus provider receives the same 1 MB document whole (its messages carry a name prefix).
test('a 1 MB document reaches a Hocuspocus provider whole', async () => {
  const writer = await writeLargeDocument('large-hocuspocus')
  const doc = new Y.Doc()
  const provider = new HocuspocusProvider({
    url: server.url.replace(/^http/, 'ws') + '/hocuspocus',
    name: 'large-hocuspocus',
    document: doc,
    WebSocketPolyfill: WebSocket
  })
  const text = doc.getText('text')
  await docSatisfies(doc, () => text.length === largeText.length)
  assert.ok(text.toString() === largeText, 'the document arrived whole')
  provider.destroy()
  doc.destroy()
  writer.close()
})

// A message over --max-message-bytes still closes its sender with 1009, on both endpoints.
// Sent uncompressed: compression.test.mjs covers the compressed message past the limit.
test('a message over the size limit closes with 1009', async () => {
  for (const path of ['/ws/too-big', '/hocuspocus']) {
    const socket = new WebSocket(limited.url.replace(/^http/, 'ws') + path, { perMessageDeflate: false })
    const closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
    socket.send(new Uint8Array(2 * LIMIT))
    const { code, reason } = await closed
    assert.equal(code, 1009, `${path}: ${reason}`)
    assert.ok(reason.length > 0, `${path}: the close says why`)
  }
})
