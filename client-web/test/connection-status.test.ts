// The connection badge's state machine.
import { describe, expect, it } from 'vitest'
import { connectionLabel, initialConnection, nextConnection, type ConnectionEvent, type ConnectionModel } from '../src/connection-status'

function run (events: ConnectionEvent[], online = true): ConnectionModel {
  return events.reduce(nextConnection, initialConnection(online))
}

describe('connection status', () => {
  it('starts connecting, then connected', () => {
    expect(initialConnection(true).state).toBe('connecting')
    expect(run([{ type: 'provider', status: 'connecting' }]).state).toBe('connecting')
    expect(run([{ type: 'provider', status: 'connected' }]).state).toBe('connected')
  })

  it('says reconnecting after losing a connection, through every retry, until connected again', () => {
    const lost = run([
      { type: 'provider', status: 'connected' },
      { type: 'provider', status: 'disconnected' }
    ])
    expect(lost.state).toBe('reconnecting')
    const retrying = nextConnection(lost, { type: 'provider', status: 'connecting' })
    expect(retrying.state).toBe('reconnecting')
    expect(nextConnection(retrying, { type: 'provider', status: 'connected' }).state).toBe('connected')
  })

  it('keeps saying connecting while the first connection fails', () => {
    expect(run([
      { type: 'provider', status: 'connecting' },
      { type: 'provider', status: 'connecting' }
    ]).state).toBe('connecting')
  })

  it('says offline when the browser is, unless a socket is open anyway', () => {
    expect(initialConnection(false).state).toBe('offline')
    const offline = run([
      { type: 'provider', status: 'connected' },
      { type: 'provider', status: 'disconnected' },
      { type: 'browser-offline' }
    ])
    expect(offline.state).toBe('offline')
    expect(nextConnection(offline, { type: 'browser-online' }).state).toBe('reconnecting')
    expect(nextConnection(offline, { type: 'provider', status: 'connected' }).state).toBe('connected')
  })

  it('reports a final close with its reason until a deliberate reconnect succeeds', () => {
    const closed = run([
      { type: 'provider', status: 'connected' },
      { type: 'provider', status: 'disconnected' },
      { type: 'closed', reason: 'access revoked' }
    ])
    expect(closed.state).toBe('closed')
    expect(connectionLabel(closed)).toBe('Disconnected: access revoked')
    expect(nextConnection(closed, { type: 'provider', status: 'connecting' }).state).toBe('closed')
    expect(nextConnection(closed, { type: 'provider', status: 'connected' }).state).toBe('connected')
  })

  it('labels every state', () => {
    expect(connectionLabel(initialConnection(true))).toBe('Connecting…')
    expect(connectionLabel(run([{ type: 'provider', status: 'connected' }]))).toBe('Connected')
    expect(connectionLabel(run([{ type: 'provider', status: 'connected' }, { type: 'provider', status: 'disconnected' }]))).toBe('Reconnecting…')
    expect(connectionLabel(initialConnection(false))).toBe('Offline')
  })
})
