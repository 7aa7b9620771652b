// "Who is here": the names of everyone in the document's awareness, in their cursor colours.

import type { Awareness } from 'y-protocols/awareness'
import { element, replaceChildren } from './dom'

export interface Person {
  clientId: number
  name: string
  color: string
  isSelf: boolean
}

/** The people in `states`, this tab first, then by name; states without a user are skipped. */
export function peopleFromStates (states: Map<number, Record<string, unknown>>, selfClientId: number): Person[] {
  const people: Person[] = []
  for (const [clientId, state] of states) {
    const user = state.user
    if (typeof user !== 'object' || user === null) continue
    const { name, color } = user as { name?: unknown, color?: unknown }
    people.push({
      clientId,
      name: typeof name === 'string' && name !== '' ? name : 'Anonymous',
      color: typeof color === 'string' ? color : '#666666',
      isSelf: clientId === selfClientId
    })
  }
  return people.sort((left, right) =>
    Number(right.isSelf) - Number(left.isSelf) || left.name.localeCompare(right.name) || left.clientId - right.clientId)
}

/**
 * Keeps `list` showing who is here. Awareness changes on every cursor move; the list is only
 * rebuilt when the people change, so screen readers announce arrivals, not keystrokes.
 */
export function bindPresenceList (list: HTMLUListElement, summary: HTMLElement, awareness: Awareness): () => void {
  let shown = ''
  const render = (): void => {
    const people = peopleFromStates(awareness.getStates() as Map<number, Record<string, unknown>>, awareness.clientID)
    const signature = JSON.stringify(people)
    if (signature === shown) return
    shown = signature
    replaceChildren(list, ...people.map((person) =>
      element('li', { class: 'person', 'data-client-id': String(person.clientId) },
        element('span', { class: 'swatch', style: `background-color: ${person.color}`, 'aria-hidden': 'true' }),
        element('span', { class: 'person-name' }, person.name),
        person.isSelf ? element('span', { class: 'person-self' }, ' (you)') : null
      )
    ))
    summary.textContent = people.length === 1 ? 'Only you' : `${people.length} people`
  }
  awareness.on('change', render)
  render()
  return () => awareness.off('change', render)
}
