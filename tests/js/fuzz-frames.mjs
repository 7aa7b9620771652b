// The end-to-end mutation fuzz of hostile-frames.test.mjs: valid y-websocket messages taken from
// real Yjs documents, broken the ways a buggy or hostile client breaks them, and the raw clients
// that send them. Everything, the documents included, comes from one seeded generator, so a seed
// names the frames (their interleaving over several sockets is up to timing).
import { randomInt } from 'node:crypto'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import { within, openRaw } from './harness.mjs'

/** xorshift32; `next()` is in [0, 1). Seeded so that a failing run can be replayed. */
export function generator (seed) {
  // xorshift has one fixed point, zero, which would repeat forever.
  let state = (seed >>> 0) || 0x9e3779b9
  const next = () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  return { next, int, pick: (list) => list[int(list.length)], chance: (p) => next() < p }
}

// Client ids and lengths past what any real document has, including the 4.4e11.
const HUGE_VARINTS = [
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xdb, 0xb9, 0x9a, 0xff, 0x8a, 0x0d],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
]
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff]
const CHARACTERS = ['a', 'b', 'Z', ' ', '\n', 'é', '中', '😀', '"', '{', '\\', '\u0000']

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) { out.set(part, offset); offset += part.length }
  return out
}

const randomString = (rng, max) => Array.from({ length: 1 + rng.int(max) }, () => rng.pick(CHARACTERS)).join('')

function randomJson (rng, depth = 0) {
  switch (rng.int(depth > 2 ? 4 : 6)) {
    case 0: return rng.chance(0.5) ? rng.int(2 ** 31) - 2 ** 30 : rng.next() * 1e6
    case 1: return randomString(rng, 10)
    case 2: return rng.chance(0.5)
    case 3: return null
    case 4: return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1))
    default: return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [randomString(rng, 5), randomJson(rng, depth + 1)]))
  }
}

/** One transaction of the kind editors make: rich text, maps, arrays, nested types, XML. */
function editDocument (rng, doc) {
  const text = doc.getText('text')
  const map = doc.getMap('map')
  const list = doc.getArray('list')
  const xml = doc.getXmlFragment('prosemirror')
  const at = (length) => rng.int(length + 1)
  doc.transact(() => {
    switch (rng.int(10)) {
      case 0: text.insert(at(text.length), randomString(rng, 12), rng.chance(0.3) ? { bold: true } : undefined); break
      case 1: if (text.length > 0) { const start = rng.int(text.length); text.delete(start, 1 + rng.int(Math.min(6, text.length - start))) } break
      case 2: if (text.length > 0) { const start = rng.int(text.length); text.format(start, 1 + rng.int(text.length - start), { italic: rng.chance(0.7) ? true : null, color: '#c00' }) } break
      case 3: text.insertEmbed(at(text.length), { image: randomString(rng, 8) }); break
      case 4: map.set(randomString(rng, 3), rng.chance(0.2) ? Uint8Array.of(rng.int(256), rng.int(256)) : randomJson(rng)); break
      case 5: {
        const nested = rng.pick([() => new Y.Text(randomString(rng, 8)), () => Y.Array.from([randomJson(rng), randomJson(rng)]), () => new Y.Map()])()
        map.set(randomString(rng, 3), nested)
        if (nested instanceof Y.Map) nested.set('inner', randomJson(rng))
        break
      }
      case 6: {
        const value = map.get(rng.pick([...map.keys(), 'missing']))
        if (value instanceof Y.Text) value.insert(at(value.length), randomString(rng, 5))
        else if (value instanceof Y.Array) value.insert(at(value.length), [randomJson(rng)])
        else if (value !== undefined) map.delete(rng.pick([...map.keys()]))
        break
      }
      case 7: list.insert(at(list.length), Array.from({ length: 1 + rng.int(3) }, () => randomJson(rng))); break
      case 8: if (list.length > 0) { const start = rng.int(list.length); list.delete(start, 1 + rng.int(list.length - start)) } break
      default: {
        const paragraph = new Y.XmlElement(rng.pick(['paragraph', 'heading', 'listItem']))
        paragraph.setAttribute('level', String(rng.int(4)))
        paragraph.insert(0, [new Y.XmlText(randomString(rng, 10))])
        xml.insert(at(xml.length), [paragraph])
      }
    }
  })
}

/** A y-websocket message, kept as its header and payload so mutations can keep it well framed. */
function entry (head, payload = null) {
  head = Uint8Array.from(head)
  return { head, payload, frame: payload === null ? head : wrap(head, payload) }
}

/** `head` then `payload` as a lib0 varUint8Array. */
function wrap (head, payload) {
  const encoder = encoding.createEncoder()
  encoding.writeUint8Array(encoder, head)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

const SYNC_STEP1 = [0, 0]
const SYNC_STEP2 = [0, 1]
const UPDATE = [0, 2]
const AWARENESS = [1]

/**
 * Valid messages from a few real documents: every update as it was made, merged updates,
 * SyncStep1 and SyncStep2 at several states, presence updates and removals, awareness queries,
 * auth messages, and frames holding two messages.
 */
export function buildCorpus (seed, documents = 6) {
  const rng = generator(seed)
  const messages = [entry([3]), entry(SYNC_STEP1, Y.encodeStateVector(new Y.Doc()))]
  let previous = null
  for (let index = 0; index < documents; index++) {
    const doc = new Y.Doc()
    // Small fixed ids: reproducible, and far from the random 32-bit ids of the healthy clients.
    doc.clientID = 100 + index
    // Building on another document's content makes updates that reference other clients' items.
    if (previous !== null && rng.chance(0.6)) Y.applyUpdate(doc, Y.encodeStateAsUpdate(previous))
    const updates = []
    doc.on('update', (update) => updates.push(update))
    const edits = 10 + rng.int(30)
    let midway = null
    for (let edit = 0; edit < edits; edit++) {
      editDocument(rng, doc)
      if (edit === edits >> 1) midway = Y.encodeStateVector(doc)
    }
    messages.push(...updates.map((update) => entry(UPDATE, update)))
    const start = rng.int(updates.length)
    messages.push(entry(UPDATE, Y.mergeUpdates(updates.slice(start, start + 1 + rng.int(8)))))
    messages.push(entry(SYNC_STEP1, Y.encodeStateVector(doc)), entry(SYNC_STEP1, midway))
    messages.push(entry(SYNC_STEP2, Y.encodeStateAsUpdate(doc)), entry(SYNC_STEP2, Y.encodeStateAsUpdate(doc, midway)))
    // y-protocols' own writer, to be sure the framing is the stock client's.
    const viaProtocol = encoding.createEncoder()
    encoding.writeVarUint(viaProtocol, 0)
    syncProtocol.writeSyncStep1(viaProtocol, doc)
    messages.push({ ...entry(SYNC_STEP1, Y.encodeStateVector(doc)), frame: encoding.toUint8Array(viaProtocol) })

    const awareness = new awarenessProtocol.Awareness(doc)
    for (let change = 0; change < 3; change++) {
      awareness.setLocalState({ user: { name: randomString(rng, 8), color: '#0a0' }, cursor: { anchor: rng.int(50), head: rng.int(50) }, extra: randomJson(rng) })
      messages.push(entry(AWARENESS, awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID])))
    }
    awareness.setLocalState(null)
    messages.push(entry(AWARENESS, awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID])))
    awareness.destroy()
    previous = doc
  }
  const auth = encoding.createEncoder()
  encoding.writeVarString(auth, 'permission denied')
  messages.push(entry([2, 0], encoding.toUint8Array(auth).subarray(1)))
  for (let pair = 0; pair < 8; pair++) {
    messages.push({ head: null, payload: null, frame: concat(rng.pick(messages).frame, rng.pick(messages).frame) })
  }
  return messages
}

/** One mutation of `bytes`; `other` is material for splices. */
function mutate (rng, bytes, other) {
  const at = () => rng.int(bytes.length + 1)
  const inside = () => rng.int(bytes.length)
  switch (bytes.length === 0 ? 7 : rng.int(8)) {
    case 0: { const out = bytes.slice(); out[inside()] ^= 1 << rng.int(8); return out }
    case 1: { const out = bytes.slice(); out[inside()] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.int(256); return out }
    case 2: return bytes.slice(0, inside())
    case 3: { const cut = inside(); return concat(bytes.subarray(0, cut), rng.pick(HUGE_VARINTS), bytes.subarray(cut + 1)) }
    case 4: return concat(bytes.subarray(0, at()), other.subarray(rng.int(other.length + 1)))
    case 5: {
      const start = inside()
      const section = bytes.subarray(start, start + 1 + rng.int(bytes.length - start))
      const to = at()
      return concat(bytes.subarray(0, to), section, bytes.subarray(to))
    }
    case 6: { const start = inside(); return concat(bytes.subarray(0, start), bytes.subarray(start + 1 + rng.int(8))) }
    default: {
      const to = at()
      return concat(bytes.subarray(0, to), Uint8Array.from({ length: 1 + rng.int(8) }, () => rng.int(256)), bytes.subarray(to))
    }
  }
}

/**
 * An endless stream of frames from `corpus`: mostly mutated payloads inside a correct header and
 * length (so they reach the update, state vector and awareness decoders), some mutated whole
 * frames (to hit the framing), and a few untouched valid ones (the accepted path, under load).
 */
export function frameStream (corpus, seed) {
  const rng = generator(seed)
  const framed = corpus.filter((message) => message.payload !== null)
  return () => {
    const base = rng.pick(corpus)
    const mutations = 1 + rng.int(3)
    if (rng.chance(0.05)) return base.frame
    if (base.payload !== null && rng.chance(0.7)) {
      let payload = base.payload
      for (let round = 0; round < mutations; round++) payload = mutate(rng, payload, rng.pick(framed).payload)
      return wrap(base.head, payload)
    }
    let frame = base.frame
    for (let round = 0; round < mutations; round++) frame = mutate(rng, frame, rng.pick(corpus).frame)
    return frame
  }
}

/** Bytes as spaced hex, as the issue writes frames. */
export const hex = (bytes) => Buffer.from(bytes).toString('hex').replace(/(..)(?!$)/g, '$1 ')

/** What `write` puts in a fresh lib0 encoder. */
export const encode = (write) => { const encoder = encoding.createEncoder(); write(encoder); return encoding.toUint8Array(encoder) }

/** A y-websocket awareness message setting `clientId`'s state to the raw string `state`. */
export const awarenessFrame = (clientId, clock, state) => encode((frame) => {
  encoding.writeVarUint(frame, 1)
  encoding.writeVarUint8Array(frame, encode((update) => {
    encoding.writeVarUint(update, 1)
    encoding.writeVarUint(update, clientId)
    encoding.writeVarUint(update, clock)
    encoding.writeVarString(update, state)
  }))
})

/** The (client, clock, state) entries an awareness message holds; none for any other message. */
function awarenessEntries (frame) {
  try {
    const decoder = decoding.createDecoder(frame)
    if (decoding.readVarUint(decoder) !== 1) return []
    const update = decoding.createDecoder(decoding.readVarUint8Array(decoder))
    return Array.from({ length: decoding.readVarUint(update) }, () => ({
      client: decoding.readVarUint(update),
      clock: decoding.readVarUint(update),
      state: decoding.readVarString(update)
    }))
  } catch { return [] }
}

/** The presence state of a verdict probe. */
const probeState = (clock) => `{"probe":${clock}}`

/**
 * A raw client that sends one fuzzed frame at a time, each followed by a presence update of its
 * own (a client id of its own, the clock counting frames). The room handles a connection's
 * messages in order and echoes presence to its sender, so the echo is the server's verdict that
 * the frame was accepted; the alternative verdict is the close. Every frame is thus judged before
 * the next is sent, and the send buffer never holds more than one.
 */
async function openAttacker (url) {
  const probeId = randomInt(1, 2 ** 31)
  let probes = 0
  let answered = 0
  let closed = null
  let wake = () => {}
  const { socket } = await within(openRaw(url, (frame) => {
    for (const { client, clock, state } of awarenessEntries(frame)) {
      // Only the echo of a probe itself: the room also sends this client's state when it was
      // removed (a higher clock, state null), which answers for no frame.
      if (client === probeId && state === probeState(clock)) { answered = Math.max(answered, clock); wake() }
    }
  }), 10000, 'the WebSocket upgrade')
  socket.on('close', (code, reason) => { closed = { code, reason: reason.toString() }; wake() })
  // What this socket sent before, which may matter as much as the frame itself.
  const earlier = []
  return {
    get closed () { return closed },
    async judge (frame) {
      earlier.push(hex(frame))
      socket.send(frame)
      socket.send(awarenessFrame(probeId, ++probes, probeState(probes)))
      try {
        while (answered < probes && closed === null) {
          await within(new Promise((resolve) => { wake = resolve }), 10000, 'a verdict')
        }
      } catch {
        // Neither accepted nor refused: recorded, and the fuzz goes on. A WebSocket ping tells
        // a stuck room (the connection still answers) from a stuck connection.
        const pong = new Promise((resolve) => socket.once('pong', () => resolve('answers pings')))
        socket.ping()
        const alive = await within(pong, 2000, 'a pong').catch(() => 'answers no ping')
        socket.terminate()
        closed = { code: 'no verdict within 10 s', reason: `the connection ${alive}` }
      }
      return answered >= probes ? { accepted: true } : { ...closed, earlier: earlier.slice(0, -1) }
    },
    close: () => socket.close()
  }
}

/**
 * Sends `count` frames from `nextFrame` (or until `stopped()`), reconnecting whenever the server
 * closes the socket; `report(verdict, frame)` hears each verdict.
 */
export async function attack (url, nextFrame, count, report, stopped = () => false) {
  let attacker = null
  for (let sent = 0; sent < count && !stopped(); sent++) {
    if (attacker?.closed) attacker = null
    attacker ??= await openAttacker(url)
    const frame = nextFrame()
    report(await attacker.judge(frame), frame)
  }
  attacker?.close()
}
