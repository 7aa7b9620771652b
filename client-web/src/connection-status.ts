// The connection state the user sees, as a small state machine over y-websocket's status
// events and the browser's online/offline events.
//
// y-websocket reports only 'connecting', 'connected' and 'disconnected' (the last only when an
// open connection ends; failed attempts just repeat 'connecting'). Users need to know more:
// whether the editor has ever reached the server ("connecting") or lost it and is retrying by
// itself ("reconnecting"), and whether the browser itself has no network ("offline").

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed'

/** y-websocket's status event values. */
export type ProviderStatus = 'connecting' | 'connected' | 'disconnected'

export type ConnectionEvent =
  | { type: 'provider'; status: ProviderStatus }
  | { type: 'browser-offline' }
  | { type: 'browser-online' }
  /** The server closed with a code y-websocket treats as final (4400-4499). */
  | { type: 'closed'; reason: string }

export interface ConnectionModel {
  state: ConnectionState
  /** Whether a connection was ever open: tells "connecting" from "reconnecting". */
  everConnected: boolean
  /** Whether the socket is open right now (the browser may still claim to be online). */
  socketOpen: boolean
  browserOnline: boolean
  closedReason: string | null
}

export function initialConnection (browserOnline: boolean): ConnectionModel {
  const model: ConnectionModel = {
    state: 'connecting',
    everConnected: false,
    socketOpen: false,
    browserOnline,
    closedReason: null
  }
  return { ...model, state: deriveState(model) }
}

/** The model after `event`. Pure, so every transition is unit-tested. */
export function nextConnection (model: ConnectionModel, event: ConnectionEvent): ConnectionModel {
  let next: ConnectionModel
  switch (event.type) {
    case 'provider':
      next = {
        ...model,
        socketOpen: event.status === 'connected',
        everConnected: model.everConnected || event.status === 'connected',
        // A successful connection after a final close means someone reconnected on purpose.
        closedReason: event.status === 'connected' ? null : model.closedReason
      }
      break
    case 'browser-offline':
      next = { ...model, browserOnline: false }
      break
    case 'browser-online':
      next = { ...model, browserOnline: true }
      break
    case 'closed':
      next = { ...model, socketOpen: false, closedReason: event.reason }
      break
  }
  return { ...next, state: deriveState(next) }
}

function deriveState (model: ConnectionModel): ConnectionState {
  // An open socket wins: browsers sometimes report offline while loopback still works.
  if (model.socketOpen) return 'connected'
  if (model.closedReason !== null) return 'closed'
  if (!model.browserOnline) return 'offline'
  return model.everConnected ? 'reconnecting' : 'connecting'
}

/** Short text for the status badge. */
export function connectionLabel (model: ConnectionModel): string {
  switch (model.state) {
    case 'connecting': return 'Connecting…'
    case 'connected': return 'Connected'
    case 'reconnecting': return 'Reconnecting…'
    case 'offline': return 'Offline'
    case 'closed': return model.closedReason !== null && model.closedReason !== ''
      ? `Disconnected: ${model.closedReason}`
      : 'Disconnected by the server'
  }
}
