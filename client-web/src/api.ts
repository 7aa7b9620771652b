// Client for Quire's HTTP API (documents and their kinds, snapshots, versions).
//
// Errors come back as JSON `{"error", "code"}`. A 404 whose code is `not_found` is the router's
// answer for a path it has no route for: this server build lacks the feature, and the pages
// hide it (ApiError.routeMissing) instead of showing a broken control.

import { parseDocumentKind, type DocumentKind } from './document-kind'

/** `text` is a text document's Y.Text; `html`, `markdown`, `prosemirror-json` a rich one's. */
export type SnapshotFormat = 'update' | 'json' | 'text' | 'html' | 'markdown' | 'prosemirror-json'

export interface DocumentSummary {
  id: string
  bytes: number
  /** Seconds or milliseconds since the epoch, or an ISO 8601 string: all are accepted. */
  updated_at: number | string | null
  clients: number
  /** 'text' when the server does not say (servers from before document kinds). */
  kind: DocumentKind
}

export interface Version {
  version_id: string
  created_at: number | string | null
  label: string
}

/** A refused or failed request. */
export class ApiError extends Error {
  /** HTTP status; 0 when no answer came (network down, server stopped). */
  readonly status: number
  /** The server's stable code, or a client-side one: network_error, bad_response. */
  readonly code: string

  constructor (status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }

  /** The server has no such route: the feature is absent, not the document. */
  get routeMissing (): boolean {
    return this.status === 404 && this.code === 'not_found'
  }
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>

export class QuireApi {
  private readonly fetchImplementation: Fetch

  /** `baseUrl` is '' for the page's own origin. */
  constructor (private readonly baseUrl = '', fetchImplementation?: Fetch) {
    // Bound so `this` is not the API object when the global fetch is called.
    this.fetchImplementation = fetchImplementation ?? ((input, init) => fetch(input, init))
  }

  async listDocuments (options: { limit?: number, after?: string } = {}): Promise<DocumentSummary[]> {
    const query = new URLSearchParams()
    if (options.limit !== undefined) query.set('limit', String(options.limit))
    if (options.after !== undefined) query.set('after', options.after)
    const queryString = query.toString()
    const suffix = queryString === '' ? '' : `?${queryString}`
    const body = await this.requestJson(`/api/docs${suffix}`)
    if (!Array.isArray(body)) throw badResponse('the document list is not an array')
    return body.map(readDocumentSummary)
  }

  /** One document's metadata; an ApiError with code `document_not_found` when it has none. */
  async getDocument (documentId: string): Promise<DocumentSummary> {
    return readDocumentSummary(await this.requestJson(documentUrl(documentId)))
  }

  /**
   * Creates an empty document of `kind`, named `id` (the server picks a UUID without one).
   * Refused with 409 `document_exists` when the name is taken.
   */
  async createDocument (options: { id?: string, kind: DocumentKind }): Promise<DocumentSummary> {
    return readDocumentSummary(await this.requestJson('/api/docs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(options)
    }))
  }

  /**
   * The document's current state in `format`, as a Blob ready to download. The text format
   * exports one root text: `textName` says which.
   */
  async snapshot (documentId: string, format: SnapshotFormat, textName?: string): Promise<Blob> {
    const query = new URLSearchParams({ format })
    if (format === 'text' && textName !== undefined) query.set('name', textName)
    const response = await this.request(`${documentUrl(documentId)}/snapshot?${query.toString()}`)
    return await response.blob()
  }

  async listVersions (documentId: string): Promise<Version[]> {
    const body = await this.requestJson(`${documentUrl(documentId)}/versions`)
    if (!Array.isArray(body)) throw badResponse('the version list is not an array')
    return body.map(readVersion)
  }

  async createVersion (documentId: string, label: string): Promise<Version> {
    return readVersion(await this.requestJson(`${documentUrl(documentId)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ label })
    }))
  }

  async restoreVersion (documentId: string, versionId: string): Promise<void> {
    await this.request(`${documentUrl(documentId)}/versions/${encodeURIComponent(versionId)}/restore`, { method: 'POST' })
  }

  private async requestJson (path: string, init?: RequestInit): Promise<unknown> {
    const response = await this.request(path, init)
    try {
      return await response.json()
    } catch {
      throw badResponse('the answer is not JSON')
    }
  }

  /** Fetches `path`; any non-2xx answer or network failure becomes an ApiError. */
  private async request (path: string, init?: RequestInit): Promise<Response> {
    let response: Response
    try {
      response = await this.fetchImplementation(this.baseUrl + path, init)
    } catch (error) {
      throw new ApiError(0, 'network_error', `The server cannot be reached (${String(error)}).`)
    }
    if (response.ok) return response
    throw await errorFromResponse(response)
  }
}

/** Document ids may contain '/': encoded whole, they stay one path segment. */
function documentUrl (documentId: string): string {
  return `/api/docs/${encodeURIComponent(documentId)}`
}

/** Reads the JSON error body; a proxy's HTML error page still gives a usable message. */
export async function errorFromResponse (response: Response): Promise<ApiError> {
  let text = ''
  try {
    text = await response.text()
  } catch {
    // Body unreadable: the status line is all there is.
  }
  try {
    const body: unknown = JSON.parse(text)
    if (isRecord(body) && typeof body.error === 'string') {
      const code = typeof body.code === 'string' ? body.code : `http_${response.status}`
      return new ApiError(response.status, code, body.error)
    }
  } catch {
    // Not JSON; fall through.
  }
  const status = `${response.status} ${response.statusText}`.trim()
  return new ApiError(response.status, `http_${response.status}`, `The server answered ${status}.`)
}

function readDocumentSummary (value: unknown): DocumentSummary {
  if (!isRecord(value) || typeof value.id !== 'string') throw badResponse('a document entry has no id')
  return {
    id: value.id,
    bytes: typeof value.bytes === 'number' ? value.bytes : 0,
    updated_at: typeof value.updated_at === 'number' || typeof value.updated_at === 'string' ? value.updated_at : null,
    clients: typeof value.clients === 'number' ? value.clients : 0,
    kind: parseDocumentKind(value.kind)
  }
}

function readVersion (value: unknown): Version {
  if (!isRecord(value) || (typeof value.version_id !== 'string' && typeof value.version_id !== 'number')) {
    throw badResponse('a version has no version_id')
  }
  return {
    version_id: String(value.version_id),
    created_at: typeof value.created_at === 'number' || typeof value.created_at === 'string' ? value.created_at : null,
    label: typeof value.label === 'string' ? value.label : ''
  }
}

function badResponse (detail: string): ApiError {
  return new ApiError(0, 'bad_response', `Unexpected answer from the server: ${detail}.`)
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
