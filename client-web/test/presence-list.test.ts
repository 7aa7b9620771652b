// @vitest-environment happy-dom
// "Who is here": which awareness states become list entries, and when the list is rebuilt.
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { bindPresenceList, peopleFromStates } from '../src/presence-list'

describe('peopleFromStates', () => {
  it('lists this tab first, then by name, skipping states without a user', () => {
    const states = new Map<number, Record<string, unknown>>([
      [3, { user: { name: 'Zoe', color: '#00796b' } }],
      [1, { user: { name: 'Ada', color: '#b3261e' } }],
      [2, { cursor: null }],
      [9, { user: { name: 'Me', color: '#1d6fb8' } }],
      [4, { user: { name: '', color: 42 } }]
    ])
    expect(peopleFromStates(states, 9)).toEqual([
      { clientId: 9, name: 'Me', color: '#1d6fb8', isSelf: true },
      { clientId: 1, name: 'Ada', color: '#b3261e', isSelf: false },
      { clientId: 4, name: 'Anonymous', color: '#666666', isSelf: false },
      { clientId: 3, name: 'Zoe', color: '#00796b', isSelf: false }
    ])
  })
})

describe('bindPresenceList', () => {
  it('shows names as text and rebuilds only when people change', () => {
    const awareness = new Awareness(new Y.Doc())
    awareness.setLocalStateField('user', { name: '<b>Ada</b>', color: '#b3261e' })
    const list = document.createElement('ul')
    const summary = document.createElement('span')
    const unbind = bindPresenceList(list, summary, awareness)
    expect(list.querySelector('.person-name')?.textContent).toBe('<b>Ada</b>')
    expect(list.querySelector('b')).toBeNull()
    expect(summary.textContent).toBe('Only you')

    const item = list.firstElementChild
    awareness.setLocalStateField('cursor', { anchor: 1 })
    expect(list.firstElementChild).toBe(item)

    awareness.setLocalStateField('user', { name: 'Ada L.', color: '#b3261e' })
    expect(list.querySelector('.person-name')?.textContent).toBe('Ada L.')
    unbind()
    awareness.destroy()
  })
})
