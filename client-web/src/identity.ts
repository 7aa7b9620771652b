// Who the user is to the others: a name they can set and a colour, both remembered in
// localStorage so a reload or a new tab keeps them. y-codemirror.next draws remote cursors from
// the awareness field `user: { name, color, colorLight }`, which `awarenessUser` builds.

/** What the others see of this user. */
export interface Identity {
  name: string
  color: string
}

/** The awareness `user` field y-codemirror.next reads. */
export interface AwarenessUser {
  name: string
  color: string
  colorLight: string
}

/** The parts of Web Storage used here, so tests can pass a Map-backed fake. */
export type NameStorage = Pick<Storage, 'getItem' | 'setItem'>

export const nameKey = 'quire.userName'
export const colorKey = 'quire.userColor'
export const maximumNameLength = 40

/**
 * Cursor colours, dark enough for white name labels to stay readable (contrast >= 4.5:1) and
 * distinct from one another.
 */
export const palette = [
  '#b3261e', '#1d6fb8', '#2e7d32', '#8e24aa', '#c2410c', '#00796b', '#ad1457', '#4e5fbb'
] as const

/** Loads the identity, creating and storing a default one on first visit. */
export function loadIdentity (storage: NameStorage | null, random: () => number = Math.random): Identity {
  const storedName = readStorage(storage, nameKey)
  const storedColor = readStorage(storage, colorKey)
  const name = storedName !== null && cleanName(storedName) !== '' ? cleanName(storedName) : defaultName(random)
  const color = storedColor !== null && (palette as readonly string[]).includes(storedColor)
    ? storedColor
    : chooseColor(random)
  writeStorage(storage, nameKey, name)
  writeStorage(storage, colorKey, color)
  return { name, color }
}

/**
 * Stores a new name and returns the identity that results; a blank name keeps the old one,
 * since an empty label next to a cursor tells nobody anything.
 */
export function rename (storage: NameStorage | null, identity: Identity, requested: string): Identity {
  const name = cleanName(requested)
  if (name === '') return identity
  writeStorage(storage, nameKey, name)
  return { ...identity, name }
}

/** Trims, folds runs of whitespace and caps the length of a name. */
export function cleanName (name: string): string {
  return Array.from(name.replace(/\s+/g, ' ').trim()).slice(0, maximumNameLength).join('')
}

/** A palette colour picked with `random` (0 <= random() < 1). */
export function chooseColor (random: () => number): string {
  return palette[Math.floor(random() * palette.length) % palette.length]
}

/** "Guest 123": a placeholder that still tells two new users apart. */
export function defaultName (random: () => number): string {
  return `Guest ${100 + Math.floor(random() * 900)}`
}

/** The awareness `user` field; colorLight tints remote selections with the same hue. */
export function awarenessUser (identity: Identity): AwarenessUser {
  return { name: identity.name, color: identity.color, colorLight: identity.color + '33' }
}

// Storage can throw (disabled cookies, private modes, quota): the editor still works without it.
function readStorage (storage: NameStorage | null, key: string): string | null {
  try {
    return storage?.getItem(key) ?? null
  } catch {
    return null
  }
}

function writeStorage (storage: NameStorage | null, key: string, value: string): void {
  try {
    storage?.setItem(key, value)
  } catch {
    // Not remembered across visits; nothing else depends on it.
  }
}
