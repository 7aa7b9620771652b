// Whether this tab's changes are on the server: the "saved" indicator's model, kept pure so its
// rules are unit-tested without a socket.
//
// The Yjs sync protocol has no acknowledgements, but it has an echo with the same meaning:
// whenever a client sends SyncStep1, Quire answers with SyncStep2 and then its own SyncStep1,
// whose payload is the server's state vector. Quire handles one connection's messages in order,
// so that answer comes after every message the client sent before its SyncStep1. A "probe" (a
// SyncStep1 sent after local changes) therefore confirms those changes once its answer arrives
// and the server's state vector covers this tab's state vector at probe time. The state vector
// alone would not do: deletions do not advance it, so ordering is what confirms a deletion.
//
// Counting:
// - localSequence counts local changes (typing, undo, and updates loaded from IndexedDB).
// - sentSequence is the last local change handed to an open socket. Changes made while no
//   socket is open are sent on reconnect inside the SyncStep2 that answers the server's first
//   SyncStep1 (it carries everything the server lacks plus the full delete set).
// - acknowledgedSequence is the last local change a probe's answer confirmed.

/** A Yjs state vector: client id -> number of structs seen from that client. */
export type StateVector = Map<number, number>

export type SaveState =
  /** No server answer yet and nothing changed here. */
  | 'loading'
  /** Every local change is confirmed by the server. */
  | 'saved'
  /** Connected; some local changes are sent or about to be, not yet confirmed. */
  | 'saving'
  /** Not connected and some local changes are not confirmed: they wait in this browser. */
  | 'unsaved'

interface Probe {
  sequence: number
  stateVector: StateVector
}

export class SaveTracker {
  private localSequence = 0
  private sentSequence = 0
  private acknowledgedSequence = 0
  private probesInFlight: Probe[] = []
  private socketOpen = false
  private awaitingFirstServerStep1 = false
  private heardFromServer = false

  /** A local change happened; `sentNow` when the provider put it on an open socket. */
  localChange (sentNow: boolean): void {
    this.localSequence += 1
    if (sentNow && this.socketOpen) this.sentSequence = this.localSequence
  }

  socketOpened (): void {
    this.socketOpen = true
    this.awaitingFirstServerStep1 = true
    this.probesInFlight = []
  }

  /** Unanswered probes die with their socket; their changes are resent on reconnect. */
  socketClosed (): void {
    this.socketOpen = false
    this.awaitingFirstServerStep1 = false
    this.probesInFlight = []
  }

  /** The provider is about to send a probe (SyncStep1) carrying `stateVector`. */
  probeSent (stateVector: StateVector): void {
    this.probesInFlight.push({ sequence: this.sentSequence, stateVector })
  }

  /**
   * The server's SyncStep1 arrived with its state vector. The first one on a socket answers the
   * provider's own SyncStep1 from the connection's start, and the provider answers it with a
   * SyncStep2 holding every local change: from then on all of them count as sent.
   */
  serverStep1 (serverStateVector: StateVector): void {
    if (!this.socketOpen) return
    this.heardFromServer = true
    if (this.awaitingFirstServerStep1) {
      this.awaitingFirstServerStep1 = false
      this.sentSequence = this.localSequence
      return
    }
    const probe = this.probesInFlight.shift()
    if (probe !== undefined && covers(serverStateVector, probe.stateVector)) {
      this.acknowledgedSequence = Math.max(this.acknowledgedSequence, probe.sequence)
    }
  }

  /** Whether a probe should go out now: sent changes await confirmation and none is asked. */
  needsProbe (): boolean {
    return this.socketOpen &&
      !this.awaitingFirstServerStep1 &&
      this.probesInFlight.length === 0 &&
      this.acknowledgedSequence < this.sentSequence
  }

  get state (): SaveState {
    if (this.acknowledgedSequence >= this.localSequence) return this.heardFromServer ? 'saved' : 'loading'
    return this.socketOpen ? 'saving' : 'unsaved'
  }

  /** Local changes not yet confirmed (for tests and the page's unload warning). */
  get pendingChanges (): number {
    return this.localSequence - this.acknowledgedSequence
  }
}

/** Whether `server` has seen everything `local` has (clock by clock). */
export function covers (server: StateVector, local: StateVector): boolean {
  for (const [client, clock] of local) {
    if ((server.get(client) ?? 0) < clock) return false
  }
  return true
}

/** The indicator's words. Honest about where unconfirmed changes live. */
export function saveLabel (state: SaveState, keptInBrowserStorage: boolean): string {
  switch (state) {
    case 'loading': return 'Loading…'
    case 'saved': return 'Saved on the server'
    case 'saving': return 'Saving…'
    case 'unsaved': return keptInBrowserStorage
      ? 'Not on the server yet: kept in this browser, sent on reconnect'
      : 'Not on the server yet: kept in this tab, sent on reconnect'
  }
}
