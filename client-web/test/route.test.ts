// Document names in page paths and WebSocket URLs.
import { describe, expect, it } from 'vitest'
import { documentPath, newDocumentId, parseRoute, validateDocumentName, websocketTarget } from '../src/route'

describe('parseRoute', () => {
  it('reads the home page', () => {
    expect(parseRoute('/')).toEqual({ page: 'home' })
    expect(parseRoute('/index.html')).toEqual({ page: 'home' })
  })

  it('reads a document id, slashes and escapes included', () => {
    expect(parseRoute('/d/notes')).toEqual({ page: 'editor', documentId: 'notes' })
    expect(parseRoute('/d/team/notes')).toEqual({ page: 'editor', documentId: 'team/notes' })
    expect(parseRoute('/d/a%20b%3Fc%23d')).toEqual({ page: 'editor', documentId: 'a b?c#d' })
    expect(parseRoute('/d/caf%C3%A9')).toEqual({ page: 'editor', documentId: 'café' })
  })

  it('refuses empty, broken and control-character ids', () => {
    expect(parseRoute('/d/').page).toBe('not-found')
    expect(parseRoute('/d/%E0%A4%A').page).toBe('not-found')
    expect(parseRoute('/d/a%0Ab').page).toBe('not-found')
    expect(parseRoute('/elsewhere').page).toBe('not-found')
  })

  it('round-trips through documentPath', () => {
    for (const id of ['plain', 'team/notes', 'a b?c#d%e', 'émoji 🎉', 'trailing/']) {
      expect(parseRoute(documentPath(id))).toEqual({ page: 'editor', documentId: id })
    }
    expect(documentPath('team/a b')).toBe('/d/team/a%20b')
  })
})

describe('websocketTarget', () => {
  it('follows the page scheme and escapes the room for y-websocket', () => {
    expect(websocketTarget({ protocol: 'http:', host: '127.0.0.1:8080' }, 'team/a b'))
      .toEqual({ serverUrl: 'ws://127.0.0.1:8080/ws', roomName: 'team/a%20b' })
    expect(websocketTarget({ protocol: 'https:', host: 'quire.example' }, 'x?y').serverUrl).toBe('wss://quire.example/ws')
    expect(websocketTarget({ protocol: 'https:', host: 'quire.example' }, 'x?y').roomName).toBe('x%3Fy')
  })
})

describe('validateDocumentName', () => {
  it('follows the server rule: 1 to 512 bytes, no control characters', () => {
    expect(validateDocumentName('')).toMatch(/Enter/)
    expect(validateDocumentName('a'.repeat(512))).toBeNull()
    expect(validateDocumentName('a'.repeat(513))).toMatch(/512 bytes/)
    expect(validateDocumentName('é'.repeat(257))).toMatch(/512 bytes/)
    expect(validateDocumentName('tab\there')).toMatch(/control/)
    expect(validateDocumentName('c1\u0085')).toMatch(/control/)
    expect(validateDocumentName('team/notes 2')).toBeNull()
  })
})

describe('newDocumentId', () => {
  it('uses randomUUID when the context is secure', () => {
    expect(newDocumentId({ randomUUID: () => 'fixed', getRandomValues: (array) => array })).toBe('fixed')
  })

  it('builds a v4 UUID from getRandomValues elsewhere', () => {
    const id = newDocumentId({
      getRandomValues: <T extends ArrayBufferView | null>(array: T): T => {
        (array as unknown as Uint8Array).fill(0xff)
        return array
      }
    })
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})
