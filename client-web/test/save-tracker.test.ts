// The saved indicator's rules, without a socket.
import { describe, expect, it } from 'vitest'
import { SaveTracker, covers, saveLabel } from '../src/save-tracker'

const vector = (entries: Array<[number, number]>): Map<number, number> => new Map(entries)

describe('SaveTracker', () => {
  it('is loading until the server first answers, then saved', () => {
    const tracker = new SaveTracker()
    expect(tracker.state).toBe('loading')
    tracker.socketOpened()
    expect(tracker.state).toBe('loading')
    tracker.serverStep1(vector([]))
    expect(tracker.state).toBe('saved')
    expect(tracker.needsProbe()).toBe(false)
  })

  it('confirms changes sent on an open socket once a probe is answered', () => {
    const tracker = new SaveTracker()
    tracker.socketOpened()
    tracker.serverStep1(vector([]))
    tracker.localChange(true)
    expect(tracker.state).toBe('saving')
    expect(tracker.needsProbe()).toBe(true)
    tracker.probeSent(vector([[7, 3]]))
    expect(tracker.needsProbe()).toBe(false)
    tracker.serverStep1(vector([[7, 3], [9, 1]]))
    expect(tracker.state).toBe('saved')
    expect(tracker.pendingChanges).toBe(0)
  })

  it('does not confirm when the server state lacks what the probe carried', () => {
    const tracker = new SaveTracker()
    tracker.socketOpened()
    tracker.serverStep1(vector([]))
    tracker.localChange(true)
    tracker.probeSent(vector([[7, 3]]))
    tracker.serverStep1(vector([[7, 2]]))
    expect(tracker.state).toBe('saving')
    expect(tracker.needsProbe()).toBe(true)
  })

  it('confirms only what was sent before the probe', () => {
    const tracker = new SaveTracker()
    tracker.socketOpened()
    tracker.serverStep1(vector([]))
    tracker.localChange(true)
    tracker.probeSent(vector([[7, 1]]))
    tracker.localChange(true)
    tracker.serverStep1(vector([[7, 1]]))
    expect(tracker.state).toBe('saving')
    expect(tracker.pendingChanges).toBe(1)
    expect(tracker.needsProbe()).toBe(true)
  })

  it('keeps offline changes as unsaved, and counts them sent by the reconnect handshake', () => {
    const tracker = new SaveTracker()
    tracker.socketOpened()
    tracker.serverStep1(vector([]))
    tracker.socketClosed()
    tracker.localChange(false)
    tracker.localChange(false)
    expect(tracker.state).toBe('unsaved')
    expect(tracker.needsProbe()).toBe(false)
    tracker.socketOpened()
    expect(tracker.state).toBe('saving')
    // Not before the server's first SyncStep1: the changes are not sent yet.
    expect(tracker.needsProbe()).toBe(false)
    tracker.serverStep1(vector([]))
    expect(tracker.needsProbe()).toBe(true)
    tracker.probeSent(vector([[7, 2]]))
    tracker.serverStep1(vector([[7, 2]]))
    expect(tracker.state).toBe('saved')
  })

  it('forgets probes of a closed socket: their answers will never come', () => {
    const tracker = new SaveTracker()
    tracker.socketOpened()
    tracker.serverStep1(vector([]))
    tracker.localChange(true)
    tracker.probeSent(vector([[7, 1]]))
    tracker.socketClosed()
    expect(tracker.state).toBe('unsaved')
    tracker.socketOpened()
    tracker.serverStep1(vector([[7, 1]]))
    // The first answer on a new socket is the handshake, not the old probe's.
    expect(tracker.state).toBe('saving')
    tracker.probeSent(vector([[7, 1]]))
    tracker.serverStep1(vector([[7, 1]]))
    expect(tracker.state).toBe('saved')
  })

  it('ignores a server answer arriving after the socket closed', () => {
    const tracker = new SaveTracker()
    tracker.socketOpened()
    tracker.serverStep1(vector([]))
    tracker.localChange(true)
    tracker.socketClosed()
    tracker.serverStep1(vector([[7, 9]]))
    expect(tracker.state).toBe('unsaved')
  })
})

describe('covers', () => {
  it('compares clock by clock', () => {
    expect(covers(vector([[1, 5], [2, 3]]), vector([[1, 5]]))).toBe(true)
    expect(covers(vector([[1, 4]]), vector([[1, 5]]))).toBe(false)
    expect(covers(vector([]), vector([[1, 1]]))).toBe(false)
    expect(covers(vector([]), vector([]))).toBe(true)
  })
})

describe('saveLabel', () => {
  it('says where unconfirmed changes are', () => {
    expect(saveLabel('saved', true)).toBe('Saved on the server')
    expect(saveLabel('unsaved', true)).toMatch(/kept in this browser/)
    expect(saveLabel('unsaved', false)).toMatch(/kept in this tab/)
    expect(saveLabel('saving', true)).toBe('Saving…')
  })
})
