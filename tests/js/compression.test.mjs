// permessage-deflate (RFC 7692) against the stock npm clients, which offer it on every socket
// (Node's `ws`, as browsers do): large messages cross compressed both ways and arrive whole,
// small ones cross as they are, and a compressed message gets the same limits as any other.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { deflateRawSync, constants as zlib } from 'node:zlib'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { HocuspocusProvider } from '@hocuspocus/provider'
import { startQuire, connectProvider, synced, docSatisfies, within, watchMemory } from './harness.mjs'

let server
let uncompressed
const LIMIT = 64 * 1024
let limited
const BOMB_LIMIT = 1024 * 1024
let bombed
before(async () => {
  ;[server, uncompressed, limited, bombed] = await Promise.all([
    startQuire(),
    startQuire(['--compression', 'off']),
    startQuire(['--max-message-bytes', String(LIMIT)]),
    startQuire(['--max-message-bytes', String(BOMB_LIMIT)])
  ])
})
after(async () => { await Promise.all([server.stop(), uncompressed.stop(), limited.stop(), bombed.stop()]) })

/** About 1 MB of text, which deflate shrinks many times over. */
const largeText = Array.from({ length: 80000 }, (_, line) => `line ${String(line).padStart(6, '0')}\n`).join('')

/** The value of a metric series (name with labels, as rendered), or 0 when absent. */
async function metric (target, series) {
  const text = await (await fetch(`${target.url}/metrics`)).text()
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line ? Number(line.slice(series.length + 1)) : 0
}

/** Writes `largeText` into `room` on `target` and leaves the writer connected. */
async function writeLargeDocument (target, room) {
  const writer = connectProvider(target, room)
  await synced(writer.provider)
  writer.text.insert(0, largeText)
  return writer
}

/** Joins `room` on `target` with a y-websocket client and waits for the whole large text. */
async function joinLargeDocument (target, room) {
  const client = connectProvider(target, room)
  await synced(client.provider)
  await docSatisfies(client.doc, () => client.text.length === largeText.length)
  assert.ok(client.text.toString() === largeText, 'the document arrived whole')
  return client
}

/** The bytes the client's TCP socket has read and written so far. */
const wire = (websocket) => ({ read: websocket._socket.bytesRead, written: websocket._socket.bytesWritten })

/** A joiner of a large document is sent it compressed, and it arrives whole. */
test('a large document reaches a joining y-websocket client compressed', async () => {
  const writer = await writeLargeDocument(server, 'deflate-join')
  const joiner = await joinLargeDocument(server, 'deflate-join')
  assert.match(joiner.provider.ws.extensions, /permessage-deflate/)
  const { read } = wire(joiner.provider.ws)
  assert.ok(read < largeText.length / 4, `the join read ${read} bytes for a ${largeText.length}-character document`)
  ;[writer, joiner].forEach((client) => client.close())
})

/** A client that offers no compression is sent the same document uncompressed. */
test('a client that offers nothing still works', async () => {
  const writer = await writeLargeDocument(server, 'deflate-not-offered')
  const joiner = await joinLargeDocument(server, 'deflate-not-offered')
  const plain = connectProvider(server, 'deflate-not-offered', {
    WebSocketPolyfill: class extends WebSocket {
      constructor (url, protocols) { super(url, protocols, { perMessageDeflate: false }) }
    }
  })
  await synced(plain.provider)
  await docSatisfies(plain.doc, () => plain.text.length === largeText.length)
  assert.ok(plain.text.toString() === largeText, 'the document arrived whole')
  assert.equal(plain.provider.ws.extensions, '')
  assert.ok(wire(plain.provider.ws).read > largeText.length, 'it crossed uncompressed')
  // Its large edit reaches a compressing client, and the other way round.
  plain.text.insert(0, largeText)
  await docSatisfies(joiner.doc, () => joiner.text.length === 2 * largeText.length)
  ;[writer, joiner, plain].forEach((client) => client.close())
})

/** With --compression off the offer is declined and the same join crosses at full size. */
test('--compression off declines the offer', async () => {
  const writer = await writeLargeDocument(uncompressed, 'deflate-off')
  const joiner = await joinLargeDocument(uncompressed, 'deflate-off')
  assert.equal(joiner.provider.ws.extensions, '')
  assert.ok(wire(joiner.provider.ws).read > largeText.length, 'the join crossed uncompressed')
  ;[writer, joiner].forEach((client) => client.close())
})

/** A large edit the client sends compressed is inflated, stored and relayed whole. */
test('a large edit sent compressed is inflated and relayed', async () => {
  const watcher = connectProvider(server, 'deflate-upload')
  await synced(watcher.provider)
  const received = await metric(server, 'quire_websocket_compressed_messages_total{direction="received"}')
  const writer = await writeLargeDocument(server, 'deflate-upload')
  await docSatisfies(watcher.doc, () => watcher.text.length === largeText.length)
  assert.ok(watcher.text.toString() === largeText, 'the relayed edit arrived whole')
  const { written } = wire(writer.provider.ws)
  assert.ok(written < largeText.length / 4, `the writer sent ${written} bytes for a ${largeText.length}-character edit`)
  assert.ok(await metric(server, 'quire_websocket_compressed_messages_total{direction="received"}') > received)
  writer.close()
  // What was stored is the inflated edit: a fresh joiner reads it back whole.
  const late = await joinLargeDocument(server, 'deflate-upload')
  ;[watcher, late].forEach((client) => client.close())
})

/** Joiners of an unchanged document share one compression of it, per protocol. */
test('joiners of an unchanged document share one compression', async () => {
  // Written, then served by a fresh process: nothing (a compaction replacing the cached
  // document) can change what joiners are sent while they join.
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-deflate-'))
  const first = await startQuire([], { dataDir })
  const writer = await writeLargeDocument(first, 'deflate-shared')
  await joinLargeDocument(first, 'deflate-shared').then((client) => client.close())
  writer.close()
  await first.stop()
  const restarted = await startQuire([], { dataDir })
  const joiners = await Promise.all(Array.from({ length: 6 }, () => joinLargeDocument(restarted, 'deflate-shared')))
  assert.equal(await metric(restarted, 'quire_websocket_compressions_total'), 1, 'the document was compressed once')
  assert.equal(await metric(restarted, 'quire_websocket_compressed_messages_total{direction="sent"}'), 6)
  // Hocuspocus sockets frame it with the document's name: framed once, compressed once more.
  const hocuspocus = Array.from({ length: 4 }, () => {
    const doc = new Y.Doc()
    const provider = new HocuspocusProvider({
      url: restarted.url.replace(/^http/, 'ws') + '/hocuspocus', name: 'deflate-shared', document: doc, WebSocketPolyfill: WebSocket
    })
    return { doc, provider }
  })
  await Promise.all(hocuspocus.map(({ doc }) => docSatisfies(doc, () => doc.getText('text').length === largeText.length)))
  assert.equal(await metric(restarted, 'quire_websocket_compressions_total'), 2, 'one more compression for the Hocuspocus framing')
  assert.equal(await metric(restarted, 'quire_websocket_compressed_messages_total{direction="sent"}'), 10)
  hocuspocus.forEach(({ doc, provider }) => { provider.destroy(); doc.destroy() })
  joiners.forEach((client) => client.close())
  await restarted.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

/** Small updates cross uncompressed: each costs its own size on the wire, no more. */
test('small updates are sent as they are', async () => {
  const writer = connectProvider(server, 'deflate-small')
  const reader = connectProvider(server, 'deflate-small')
  await Promise.all([synced(writer.provider), synced(reader.provider)])
  const sent = await metric(server, 'quire_websocket_compressed_messages_total{direction="sent"}')
  for (let index = 0; index < 20; index++) writer.text.insert(0, 'x')
  await docSatisfies(reader.doc, () => reader.text.length === 20)
  assert.equal(await metric(server, 'quire_websocket_compressed_messages_total{direction="sent"}'), sent)
  ;[writer, reader].forEach((client) => client.close())
})

/** A Hocuspocus provider agrees to compression on /hocuspocus and gets the document whole. */
test('a Hocuspocus provider gets a large document compressed', async () => {
  const writer = await writeLargeDocument(server, 'deflate-hocuspocus')
  const doc = new Y.Doc()
  const provider = new HocuspocusProvider({
    url: server.url.replace(/^http/, 'ws') + '/hocuspocus',
    name: 'deflate-hocuspocus',
    document: doc,
    WebSocketPolyfill: WebSocket
  })
  const text = doc.getText('text')
  await within(docSatisfies(doc, () => text.length === largeText.length), 30_000, 'the document')
  assert.ok(text.toString() === largeText, 'the document arrived whole')
  const socket = provider.configuration.websocketProvider.webSocket
  assert.match(socket.extensions, /permessage-deflate/)
  assert.ok(wire(socket).read < largeText.length / 4, `read ${wire(socket).read} bytes`)
  provider.destroy()
  doc.destroy()
  writer.close()
})

/** A small compressed message that inflates past --max-message-bytes closes with 1009. */
test('a compressed message inflating past the limit closes with 1009', async () => {
  for (const path of ['/ws/deflate-bomb', '/hocuspocus']) {
    const socket = new WebSocket(limited.url.replace(/^http/, 'ws') + path)
    const closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
    assert.match(socket.extensions, /permessage-deflate/)
    socket.send(new Uint8Array(16 * LIMIT))
    const { code, reason } = await closed
    assert.equal(code, 1009, `${path}: ${reason}`)
    assert.match(reason, /inflates to more than/, path)
    assert.ok(socket._socket.bytesWritten < LIMIT, `${path}: the bomb was small on the wire`)
  }
})

/**
 * A 256 MiB compression bomb in about 256 KB: sixteen copies of 16 MiB of zeros deflated with a
 * sync flush (each copy is byte-aligned and refers back only within itself).
 */
function compressionBomb () {
  const chunk = deflateRawSync(Buffer.alloc(16 * 1024 * 1024), { level: 9, finishFlush: zlib.Z_SYNC_FLUSH })
  const stream = Buffer.concat(Array.from({ length: 16 }, () => chunk))
  return stream.subarray(0, stream.length - 4) // the 00 00 ff ff a sender leaves off
}

/** A bomb inflating to 256 MiB is stopped at --max-message-bytes: 1009, and no 256 MiB held. */
test('a compression bomb closes with 1009 without inflating it', async () => {
  const bomb = compressionBomb()
  assert.ok(bomb.length < BOMB_LIMIT, 'the bomb itself is within the limit')
  const memory = watchMemory(bombed.pid)
  const client = await rawClient(bombed, '/ws/deflate-big-bomb', 'permessage-deflate')
  assert.match(extensionsOf(client.head), /permessage-deflate/)
  client.write(maskedFrame(0x80 | 0x40 | 0x2, bomb))
  const { code, reason } = await within(client.closed(), 30_000, 'the close of the bomb')
  client.end()
  const { baseline, peak } = memory.stop()
  assert.equal(code, 1009, reason)
  assert.match(reason, /inflates to more than/, 'refused while inflating, not for its compressed size')
  const grown = (peak - baseline) / (1024 * 1024)
  assert.ok(grown < 64, `the server grew by ${grown.toFixed(1)} MiB for a 256 MiB bomb`)
  // The server still serves.
  const after = connectProvider(bombed, 'deflate-big-bomb')
  await synced(after.provider)
  after.close()
})

/**
 * A raw TCP WebSocket client: upgrades to `path` offering `extensions` (if any), then hands
 * back the response head, a way to write bytes, and the server's close frame when it comes.
 */
async function rawClient (target, path, extensions) {
  const { hostname, port } = new URL(target.url)
  const socket = connect(Number(port), hostname)
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13']
  if (extensions) lines.push(`Sec-WebSocket-Extensions: ${extensions}`)
  socket.write([...lines, '', ''].join('\r\n'))
  let received = Buffer.alloc(0)
  let head = null
  let closeFrame = null
  const waiters = []
  socket.on('data', (chunk) => {
    received = Buffer.concat([received, chunk])
    if (head === null) {
      const end = received.indexOf('\r\n\r\n')
      if (end < 0) return
      head = received.subarray(0, end).toString('latin1')
      received = received.subarray(end + 4)
    }
    // Server frames are unmasked; only short ones (a close frame) are read here.
    while (received.length >= 2 && received.length >= 2 + (received[1] & 0x7f)) {
      const opcode = received[0] & 0x0f
      const length = received[1] & 0x7f
      const payload = received.subarray(2, 2 + length)
      received = received.subarray(2 + length)
      if (opcode === 0x8) closeFrame = { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString() }
    }
    waiters.splice(0).forEach((wake) => wake())
  })
  const until = async (holds) => { while (!holds()) await new Promise((resolve) => waiters.push(resolve)) }
  await until(() => head !== null)
  return {
    head,
    write: (bytes) => socket.write(bytes),
    closed: () => until(() => closeFrame !== null).then(() => closeFrame),
    end: () => socket.destroy()
  }
}

/** A masked client frame with the given first byte and payload. */
function maskedFrame (first, payload) {
  const mask = randomBytes(4)
  let header
  if (payload.length < 126) {
    header = Buffer.from([first, 0x80 | payload.length])
  } else if (payload.length < 65536) {
    header = Buffer.from([first, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
  } else {
    header = Buffer.alloc(10)
    header[0] = first
    header[1] = 0x80 | 127
    header.writeBigUInt64BE(BigInt(payload.length), 2)
  }
  const masked = Buffer.from(payload)
  for (let index = 0; index < masked.length; index++) masked[index] ^= mask[index % 4]
  return Buffer.concat([header, mask, masked])
}

const extensionsOf = (head) => head.split('\r\n').find((line) => /^sec-websocket-extensions:/i.test(line)) ?? null

/** Offers the server cannot honour, and a server with compression off, get no extension. */
test('only offers Quire can honour are agreed to', async () => {
  const agreed = await rawClient(server, '/ws/deflate-offers', 'permessage-deflate; client_max_window_bits')
  assert.match(extensionsOf(agreed.head), /permessage-deflate; server_no_context_takeover; client_no_context_takeover/)
  agreed.end()
  const declined = [
    [server, 'permessage-deflate; server_max_window_bits=10'],
    [server, 'permessage-deflate; unknown_parameter'],
    [server, 'x-webkit-deflate-frame'],
    [uncompressed, 'permessage-deflate']
  ]
  for (const [target, offer] of declined) {
    const client = await rawClient(target, '/ws/deflate-offers', offer)
    assert.match(client.head, /^HTTP\/1.1 101/, offer)
    assert.equal(extensionsOf(client.head), null, `${offer}: no extension agreed`)
    client.end()
  }
})

/** Data that is not deflate, and compressed text, close with 1007; RSV1 without an agreement closes with 1002. */
test('a malformed compressed message closes its sender only', async () => {
  const bystander = connectProvider(server, 'deflate-malformed')
  await synced(bystander.provider)
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00])
  const agreed = await rawClient(server, '/ws/deflate-malformed', 'permessage-deflate')
  agreed.write(maskedFrame(0x80 | 0x40 | 0x2, garbage))
  const invalid = await within(agreed.closed(), 10_000, 'the close of the invalid message')
  assert.equal(invalid.code, 1007, invalid.reason)
  assert.match(invalid.reason, /deflate/)
  agreed.end()

  // A compressed text message is refused like any text message.
  const texting = await rawClient(server, '/ws/deflate-malformed', 'permessage-deflate')
  const hello = deflateRawSync(Buffer.from('hello'), { finishFlush: zlib.Z_SYNC_FLUSH })
  texting.write(maskedFrame(0x80 | 0x40 | 0x1, hello.subarray(0, hello.length - 4)))
  const text = await within(texting.closed(), 10_000, 'the close of the compressed text')
  assert.equal(text.code, 1007, text.reason)
  texting.end()

  const unagreed = await rawClient(server, '/ws/deflate-malformed', null)
  unagreed.write(maskedFrame(0x80 | 0x40 | 0x2, garbage))
  const refused = await within(unagreed.closed(), 10_000, 'the close of the unagreed RSV1')
  assert.equal(refused.code, 1002, refused.reason)
  unagreed.end()

  // The room and its other client carry on.
  const other = connectProvider(server, 'deflate-malformed')
  await synced(other.provider)
  other.text.insert(0, 'still here')
  await docSatisfies(bystander.doc, () => bystander.text.toString() === 'still here')
  ;[bystander, other].forEach((client) => client.close())
})
