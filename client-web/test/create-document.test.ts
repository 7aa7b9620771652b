// Creating a document of a kind before opening it: when the page opens it, and what it says when not.
import { describe, expect, it } from 'vitest'
import { QuireApi } from '../src/api'
import { createDocument } from '../src/create-document'

const answering = (status: number, body: unknown): QuireApi =>
  new QuireApi('', async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }))
const unreachable = new QuireApi('', async () => { throw new TypeError('Failed to fetch') })

describe('createDocument', () => {
  it('opens a created document, and one that existed already', async () => {
    expect(await createDocument(answering(201, { id: 'a', kind: 'rich' }), 'a', 'rich')).toEqual({ open: true })
    expect(await createDocument(answering(409, { error: 'document "a" exists', code: 'document_exists' }), 'a', 'rich')).toEqual({ open: true })
  })

  it('opens a text document whatever goes wrong: its first edit creates it', async () => {
    expect(await createDocument(answering(405, { error: 'no', code: 'method_not_allowed' }), 'a', 'text')).toEqual({ open: true })
    expect(await createDocument(answering(401, { error: 'token required', code: 'unauthorized' }), 'a', 'text')).toEqual({ open: true })
    expect(await createDocument(unreachable, 'a', 'text')).toEqual({ open: true })
  })

  it('stays and explains when a rich document cannot be created', async () => {
    expect(await createDocument(answering(405, { error: 'no', code: 'method_not_allowed' }), 'a', 'rich'))
      .toEqual({ open: false, message: 'This server cannot create rich-text documents.' })
    expect(await createDocument(answering(403, { error: 'read-only token', code: 'forbidden' }), 'a', 'rich'))
      .toEqual({ open: false, message: 'You may not create documents here: read-only token' })
    expect(await createDocument(unreachable, 'a', 'rich')).toMatchObject({ open: false, message: expect.stringMatching(/^The document could not be created: The server cannot be reached/) })
  })
})
