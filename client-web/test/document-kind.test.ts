// Reading a document's kind, and which editor a page opens when the server cannot say.
import { describe, expect, it } from 'vitest'
import { editorKindFor, parseDocumentKind, rememberKind, rememberedKind } from '../src/document-kind'

describe('parseDocumentKind', () => {
  it('reads rich and text, and takes anything else for text', () => {
    expect(parseDocumentKind('rich')).toBe('rich')
    expect(parseDocumentKind('text')).toBe('text')
    expect(parseDocumentKind(undefined)).toBe('text')
    expect(parseDocumentKind('RICH')).toBe('text')
  })
})

describe('editorKindFor', () => {
  it('follows the server when it answers', () => {
    expect(editorKindFor({ outcome: 'found', kind: 'rich' }, 'text')).toBe('rich')
    expect(editorKindFor({ outcome: 'found', kind: 'text' }, 'rich')).toBe('text')
  })

  it('opens a document the server does not have as text, whatever was remembered', () => {
    expect(editorKindFor({ outcome: 'not-found' }, 'rich')).toBe('text')
  })

  it('falls back on the remembered kind, then text, when the server cannot answer', () => {
    expect(editorKindFor({ outcome: 'unanswered' }, 'rich')).toBe('rich')
    expect(editorKindFor({ outcome: 'unanswered' }, null)).toBe('text')
  })
})

describe('remembered kinds', () => {
  it('round-trips per document and survives a storage that throws', () => {
    const map = new Map<string, string>()
    const storage = { getItem: (key: string) => map.get(key) ?? null, setItem: (key: string, value: string) => { map.set(key, value) } }
    expect(rememberedKind(storage, 'team/notes')).toBeNull()
    rememberKind(storage, 'team/notes', 'rich')
    expect(rememberedKind(storage, 'team/notes')).toBe('rich')
    expect(rememberedKind(storage, 'other')).toBeNull()
    map.set('quire.kind:other', 'spreadsheet')
    expect(rememberedKind(storage, 'other')).toBeNull()

    const broken = { getItem: () => { throw new Error('denied') }, setItem: () => { throw new Error('full') } }
    expect(() => { rememberKind(broken, 'x', 'rich') }).not.toThrow()
    expect(rememberedKind(broken, 'x')).toBeNull()
    expect(rememberedKind(null, 'x')).toBeNull()
  })
})
