// Name and colour choice, and remembering them.
import { describe, expect, it } from 'vitest'
import { awarenessUser, chooseColor, cleanName, colorKey, loadIdentity, maximumNameLength, nameKey, palette, rename } from '../src/identity'

function memoryStorage (initial: Record<string, string> = {}): Storage & { values: Map<string, string> } {
  const values = new Map(Object.entries(initial))
  return {
    values,
    getItem: (key: string) => values.get(key) ?? null,
    setItem: (key: string, value: string) => { values.set(key, value) }
  } as unknown as Storage & { values: Map<string, string> }
}

describe('loadIdentity', () => {
  it('creates and remembers a guest name and a palette colour on first visit', () => {
    const storage = memoryStorage()
    const identity = loadIdentity(storage, () => 0.5)
    expect(identity.name).toBe('Guest 550')
    expect(palette).toContain(identity.color)
    expect(storage.values.get(nameKey)).toBe('Guest 550')
    expect(storage.values.get(colorKey)).toBe(identity.color)
    expect(loadIdentity(storage, () => 0.1)).toEqual(identity)
  })

  it('replaces a stored colour that is not in the palette', () => {
    const identity = loadIdentity(memoryStorage({ [nameKey]: 'Ada', [colorKey]: 'javascript:alert(1)' }), () => 0)
    expect(identity).toEqual({ name: 'Ada', color: palette[0] })
  })

  it('works without storage, and with storage that throws', () => {
    expect(loadIdentity(null, () => 0).name).toBe('Guest 100')
    const throwing = {
      getItem: () => { throw new Error('denied') },
      setItem: () => { throw new Error('denied') }
    }
    expect(loadIdentity(throwing, () => 0.99).color).toBe(palette[palette.length - 1])
  })
})

describe('rename', () => {
  it('stores a cleaned name and keeps the old one for a blank request', () => {
    const storage = memoryStorage()
    const identity = { name: 'Guest 1', color: palette[1] }
    const renamed = rename(storage, identity, '  Ada   Lovelace ')
    expect(renamed).toEqual({ name: 'Ada Lovelace', color: palette[1] })
    expect(storage.values.get(nameKey)).toBe('Ada Lovelace')
    expect(rename(storage, renamed, '   ')).toBe(renamed)
  })

  it('caps long names by characters, not UTF-16 units', () => {
    expect(Array.from(cleanName('🎉'.repeat(100)))).toHaveLength(maximumNameLength)
  })
})

describe('colours', () => {
  it('spreads random values over the whole palette', () => {
    const seen = new Set(palette.map((_, index) => chooseColor(() => (index + 0.5) / palette.length)))
    expect(seen.size).toBe(palette.length)
  })

  it('gives y-codemirror.next a translucent selection colour', () => {
    expect(awarenessUser({ name: 'Ada', color: '#b3261e' })).toEqual({ name: 'Ada', color: '#b3261e', colorLight: '#b3261e33' })
  })
})
