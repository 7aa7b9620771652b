// The HTTP API client: URLs, parsing, and turning every failure into an ApiError.
import { describe, expect, it } from 'vitest'
import { ApiError, QuireApi } from '../src/api'

interface Call { url: string, init?: RequestInit }

function fakeFetch (respond: (url: string) => Response | Promise<Response>): { api: QuireApi, calls: Call[] } {
  const calls: Call[] = []
  const api = new QuireApi('', async (url, init) => {
    calls.push({ url, init })
    return await respond(url)
  })
  return { api, calls }
}

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

describe('QuireApi', () => {
  it('lists documents with paging parameters', async () => {
    const { api, calls } = fakeFetch(() => json([
      { id: 'notes', bytes: 12, updated_at: '2026-11-22T05:40:12Z', clients: 2, kind: 'rich' },
      // A server from before document kinds says nothing: text.
      { id: 'old', bytes: 1, updated_at: null, clients: 0 }
    ]))
    const documents = await api.listDocuments({ limit: 50, after: 'a/b' })
    expect(calls[0].url).toBe('/api/docs?limit=50&after=a%2Fb')
    expect(documents).toEqual([
      { id: 'notes', bytes: 12, updated_at: '2026-11-22T05:40:12Z', clients: 2, kind: 'rich' },
      { id: 'old', bytes: 1, updated_at: null, clients: 0, kind: 'text' }
    ])
    await api.listDocuments()
    expect(calls[1].url).toBe('/api/docs')
  })

  it('encodes a document id as one path segment', async () => {
    const { api, calls } = fakeFetch(() => new Response(new Uint8Array([0, 0])))
    const blob = await api.snapshot('team/a b?', 'update')
    expect(calls[0].url).toBe('/api/docs/team%2Fa%20b%3F/snapshot?format=update')
    expect(blob.size).toBe(2)
    await api.snapshot('notes', 'text', 'text')
    expect(calls[1].url).toBe('/api/docs/notes/snapshot?format=text&name=text')
  })

  it('reads one document and creates one of a kind', async () => {
    const { api, calls } = fakeFetch((url) => json({ id: 'team/notes', bytes: 0, updated_at: null, clients: 0, kind: 'rich' }, url === '/api/docs' ? 201 : 200))
    expect((await api.getDocument('team/notes')).kind).toBe('rich')
    expect(calls[0].url).toBe('/api/docs/team%2Fnotes')
    expect(await api.createDocument({ id: 'team/notes', kind: 'rich' })).toMatchObject({ id: 'team/notes', kind: 'rich' })
    expect(calls[1]).toMatchObject({ url: '/api/docs', init: { method: 'POST', headers: { 'content-type': 'application/json' } } })
    expect(JSON.parse(String(calls[1].init?.body))).toEqual({ id: 'team/notes', kind: 'rich' })
  })

  it('creates, lists and restores versions', async () => {
    const { api, calls } = fakeFetch((url) => url.endsWith('/restore')
      ? json({ version_id: '1', changed: true })
      : url.endsWith('/versions') && calls.at(-1)?.init?.method === 'POST'
        ? json({ version_id: '1', created_at: '2026-11-22T05:40:12Z', label: 'draft', bytes: 10 })
        : json([{ version_id: 1, created_at: null, label: 'draft' }]))
    const created = await api.createVersion('notes', 'draft')
    expect(created).toEqual({ version_id: '1', created_at: '2026-11-22T05:40:12Z', label: 'draft' })
    expect(calls[0].init?.method).toBe('POST')
    expect(JSON.parse(String(calls[0].init?.body))).toEqual({ label: 'draft' })
    expect(await api.listVersions('notes')).toEqual([{ version_id: '1', created_at: null, label: 'draft' }])
    await api.restoreVersion('notes', '1')
    expect(calls[2].url).toBe('/api/docs/notes/versions/1/restore')
  })

  it('reads JSON errors, and tells a missing route from a missing document', async () => {
    const missingRoute = fakeFetch(() => json({ error: 'no such route', code: 'not_found' }, 404)).api
    const error = await missingRoute.listVersions('notes').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ status: 404, code: 'not_found', message: 'no such route', routeMissing: true })

    const missingDocument = fakeFetch(() => json({ error: 'no document "x"', code: 'document_not_found' }, 404)).api
    const documentError = await missingDocument.snapshot('x', 'json').catch((caught: unknown) => caught)
    expect(documentError).toMatchObject({ code: 'document_not_found', routeMissing: false })
  })

  it('turns non-JSON errors and network failures into ApiErrors', async () => {
    const proxy = fakeFetch(() => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })).api
    await expect(proxy.listDocuments()).rejects.toMatchObject({ status: 502, code: 'http_502', message: 'The server answered 502 Bad Gateway.' })

    const down = new QuireApi('', async () => { throw new TypeError('Failed to fetch') })
    await expect(down.listDocuments()).rejects.toMatchObject({ status: 0, code: 'network_error' })
  })

  it('refuses answers of the wrong shape', async () => {
    await expect(fakeFetch(() => json({ not: 'a list' })).api.listDocuments()).rejects.toMatchObject({ code: 'bad_response' })
    await expect(fakeFetch(() => json([{ bytes: 1 }])).api.listDocuments()).rejects.toMatchObject({ code: 'bad_response' })
    await expect(fakeFetch(() => new Response('not json')).api.listVersions('x')).rejects.toMatchObject({ code: 'bad_response' })
  })
})
