// Connects a SaveTracker to a live y-websocket provider: sees the server's SyncStep1 answers,
// counts local document changes, and sends probes (see save-tracker.ts for why that means
// "saved").

import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import type { WebsocketProvider } from 'y-websocket'
import { SaveTracker, type SaveState } from './save-tracker'

const messageSync = 0
/** WebSocket.OPEN, spelled out: the constant is missing where WebSocket is a polyfill. */
const socketOpenState = 1
/** Wait after the last change before asking, so fast typing asks once, not per keystroke. */
const firstProbeDelayMilliseconds = 250
/** If the server keeps not confirming, ask less often. */
const maximumProbeDelayMilliseconds = 5000

type SyncHandler = WebsocketProvider['messageHandlers'][number]

export interface SaveTracking {
  readonly state: SaveState
  readonly pendingChanges: number
  destroy: () => void
}

/** Starts tracking; `onChange` runs whenever the state may have changed. */
export function trackSaving (provider: WebsocketProvider, doc: Y.Doc, onChange: (state: SaveState) => void): SaveTracking {
  const tracker = new SaveTracker()
  let probeTimer: ReturnType<typeof setTimeout> | null = null
  let probeDelay = firstProbeDelayMilliseconds
  let lastState = tracker.state

  const changed = (): void => {
    scheduleProbe()
    if (tracker.state !== lastState) {
      lastState = tracker.state
      onChange(lastState)
    }
  }

  const scheduleProbe = (): void => {
    if (probeTimer !== null || !tracker.needsProbe()) return
    probeTimer = setTimeout(() => {
      probeTimer = null
      const socket = provider.ws
      if (!tracker.needsProbe() || socket === null || socket.readyState !== socketOpenState) return
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, messageSync)
      syncProtocol.writeSyncStep1(encoder, doc)
      tracker.probeSent(Y.decodeStateVector(Y.encodeStateVector(doc)))
      socket.send(encoding.toUint8Array(encoder))
      probeDelay = Math.min(probeDelay * 2, maximumProbeDelayMilliseconds)
    }, probeDelay)
  }

  // Peek at sync messages from the socket (emitSynced is false for BroadcastChannel ones, which
  // say nothing about the server) without consuming them, then let y-websocket handle them.
  const originalSyncHandler: SyncHandler = provider.messageHandlers[messageSync]
  provider.messageHandlers[messageSync] = (encoder, decoder, handlerProvider, emitSynced, messageType) => {
    let serverStateVector: Map<number, number> | null = null
    if (emitSynced) {
      const peek = decoding.clone(decoder)
      if (decoding.readVarUint(peek) === syncProtocol.messageYjsSyncStep1) {
        serverStateVector = Y.decodeStateVector(decoding.readVarUint8Array(peek))
      }
    }
    originalSyncHandler(encoder, decoder, handlerProvider, emitSynced, messageType)
    if (serverStateVector !== null) {
      const before = tracker.pendingChanges
      tracker.serverStep1(serverStateVector)
      if (tracker.pendingChanges < before) probeDelay = firstProbeDelayMilliseconds
      // The provider sends its reply after this handler returns; a probe scheduled now goes
      // out after it, as the ordering argument requires.
      changed()
    }
  }

  const onUpdate = (_update: Uint8Array, origin: unknown): void => {
    // Updates the provider applied came from the server. Everything else is local: the editor,
    // undo, or IndexedDB. The provider's own update listener ran first (it was registered
    // first), so an open socket already carries the change.
    if (origin === provider) return
    const socket = provider.ws
    tracker.localChange(provider.wsconnected && socket !== null && socket.readyState === socketOpenState)
    probeDelay = firstProbeDelayMilliseconds
    changed()
  }
  const onStatus = ({ status }: { status: string }): void => {
    if (status === 'connected') tracker.socketOpened()
    else tracker.socketClosed()
    changed()
  }
  const onConnectionClose = (): void => {
    tracker.socketClosed()
    changed()
  }

  doc.on('update', onUpdate)
  provider.on('status', onStatus)
  provider.on('connection-close', onConnectionClose)
  if (provider.wsconnected) tracker.socketOpened()

  return {
    get state () { return tracker.state },
    get pendingChanges () { return tracker.pendingChanges },
    destroy () {
      if (probeTimer !== null) clearTimeout(probeTimer)
      doc.off('update', onUpdate)
      provider.off('status', onStatus)
      provider.off('connection-close', onConnectionClose)
      provider.messageHandlers[messageSync] = originalSyncHandler
    }
  }
}
