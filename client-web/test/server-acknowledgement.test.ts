// trackSaving against a real WebsocketProvider whose socket is a fake talking to a simulated
// server (a Y.Doc answering the sync protocol the way Quire does). Replies are delivered only on
// flush(), so the tests control what the server has confirmed.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import { WebsocketProvider } from 'y-websocket'
import { trackSaving } from '../src/server-acknowledgement'
import type { SaveState } from '../src/save-tracker'

class SimulatedServer {
  readonly doc = new Y.Doc()
  /** When false, updates are read but not applied (a server that drops them). */
  applyUpdates = true
  sockets: FakeSocket[] = []

  receive (socket: FakeSocket, data: Uint8Array): void {
    const decoder = decoding.createDecoder(data)
    if (decoding.readVarUint(decoder) !== 0) return // awareness: not needed here
    const syncType = decoding.readVarUint(decoder)
    const payload = decoding.readVarUint8Array(decoder)
    if (syncType === syncProtocol.messageYjsSyncStep1) {
      // SyncStep2 with what the client lacks, then the server's own SyncStep1.
      socket.queue(syncMessage((encoder) => { syncProtocol.writeSyncStep2(encoder, this.doc, payload) }))
      socket.queue(syncMessage((encoder) => { syncProtocol.writeSyncStep1(encoder, this.doc) }))
    } else if (this.applyUpdates) {
      Y.applyUpdate(this.doc, payload, 'client')
    }
  }
}

function syncMessage (write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

let server: SimulatedServer

class FakeSocket {
  readonly CONNECTING = 0
  readonly OPEN = 1
  readonly CLOSED = 3
  readyState = 0
  binaryType = 'arraybuffer'
  onopen: (() => void) | null = null
  onmessage: ((event: { data: ArrayBuffer }) => void) | null = null
  onclose: ((event: { code: number, reason: string }) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  private readonly pending: Uint8Array[] = []

  constructor (readonly url: string) {
    server.sockets.push(this)
  }

  send (data: Uint8Array | ArrayBuffer): void {
    if (this.readyState !== this.OPEN) throw new Error('send on a closed socket')
    server.receive(this, new Uint8Array(data))
  }

  close (): void { this.readyState = this.CLOSED }

  queue (message: Uint8Array): void { this.pending.push(message) }

  open (): void {
    this.readyState = this.OPEN
    this.onopen?.()
  }

  /** Delivers every queued server message, including answers to what the client sends meanwhile. */
  flush (): void {
    while (this.pending.length > 0 && this.readyState === this.OPEN) {
      const message = this.pending.shift() as Uint8Array
      this.onmessage?.({ data: message.slice().buffer })
    }
  }

  /** The connection breaks. */
  drop (): void {
    this.readyState = this.CLOSED
    this.pending.length = 0
    this.onclose?.({ code: 1006, reason: '' })
  }
}

const latestSocket = (): FakeSocket => server.sockets[server.sockets.length - 1]

describe('trackSaving', () => {
  let doc: Y.Doc
  let provider: WebsocketProvider
  let states: SaveState[]
  let tracking: ReturnType<typeof trackSaving>

  beforeEach(() => {
    vi.useFakeTimers()
    server = new SimulatedServer()
    server.doc.getText('text').insert(0, 'hello world')
    doc = new Y.Doc()
    provider = new WebsocketProvider('ws://quire.test/ws', 'room', doc, {
      WebSocketPolyfill: FakeSocket as unknown as typeof WebSocket,
      disableBc: true
    })
    states = []
    tracking = trackSaving(provider, doc, (state) => states.push(state))
  })

  afterEach(() => {
    tracking.destroy()
    provider.destroy()
    doc.destroy()
    vi.useRealTimers()
  })

  /** Lets the probe timer fire and the server answer, until nothing is left to do. */
  const settle = (): void => {
    for (let round = 0; round < 10; round++) {
      latestSocket().flush()
      vi.advanceTimersByTime(6000)
    }
    latestSocket().flush()
  }

  it('is saved once the first sync completes', () => {
    expect(tracking.state).toBe('loading')
    latestSocket().open()
    latestSocket().flush()
    expect(doc.getText('text').toString()).toBe('hello world')
    expect(tracking.state).toBe('saved')
  })

  it('says saving until a probe confirms a local edit', () => {
    latestSocket().open()
    latestSocket().flush()
    doc.getText('text').insert(11, '!')
    expect(tracking.state).toBe('saving')
    // The update went out at once; the confirmation needs the probe's answer.
    expect(server.doc.getText('text').toString()).toBe('hello world!')
    vi.advanceTimersByTime(300)
    expect(tracking.state).toBe('saving')
    latestSocket().flush()
    expect(tracking.state).toBe('saved')
    expect(states).toEqual(['saved', 'saving', 'saved'])
  })

  it('keeps an offline deletion unsaved, then confirms it after the reconnect carried it', () => {
    latestSocket().open()
    latestSocket().flush()
    latestSocket().drop()
    // A deletion does not advance the state vector: only ordering can confirm it.
    doc.getText('text').delete(0, 6)
    expect(tracking.state).toBe('unsaved')
    vi.advanceTimersByTime(5000) // y-websocket's reconnect timer opens a new socket
    expect(server.sockets.length).toBe(2)
    latestSocket().open()
    expect(tracking.state).toBe('saving')
    settle()
    expect(server.doc.getText('text').toString()).toBe('world')
    expect(tracking.state).toBe('saved')
  })

  it('never claims saved when the server does not take the edit', () => {
    latestSocket().open()
    latestSocket().flush()
    server.applyUpdates = false
    doc.getText('text').insert(0, '> ')
    settle()
    expect(tracking.state).toBe('saving')
    expect(tracking.pendingChanges).toBe(1)
  })

  it('counts remote edits as already on the server', () => {
    latestSocket().open()
    latestSocket().flush()
    server.doc.getText('text').insert(0, 'remote ')
    const update = Y.encodeStateAsUpdate(server.doc, Y.encodeStateVector(doc))
    latestSocket().queue(syncMessage((encoder) => { syncProtocol.writeUpdate(encoder, update) }))
    latestSocket().flush()
    expect(doc.getText('text').toString()).toBe('remote hello world')
    expect(tracking.state).toBe('saved')
  })
})
