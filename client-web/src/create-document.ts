// Creating a document of a chosen kind before opening it (POST /api/docs).
//
// A text document needs no creating: the first edit creates one implicitly, as text. So for
// text, any failure (a server from before document kinds, a token that may not write here, the
// network) still opens the document, as the home page always did. A rich document must be
// created first, or the server would take it for text: there a failure is shown instead.

import { ApiError, type QuireApi } from './api'
import type { DocumentKind } from './document-kind'

export type Creation =
  /** Created, or it existed already (then it keeps its own kind): open it. */
  | { open: true }
  /** Not created: say why and stay. */
  | { open: false, message: string }

export async function createDocument (api: QuireApi, documentId: string, kind: DocumentKind): Promise<Creation> {
  try {
    await api.createDocument({ id: documentId, kind })
    return { open: true }
  } catch (error) {
    if (error instanceof ApiError && (error.status === 409 || error.code === 'document_exists')) return { open: true }
    if (kind === 'text') return { open: true }
    return { open: false, message: creationFailure(error) }
  }
}

function creationFailure (error: unknown): string {
  if (error instanceof ApiError) {
    // Servers from before document kinds answer POST /api/docs with 405.
    if (error.routeMissing || error.status === 405 || error.code === 'invalid_kind') return 'This server cannot create rich-text documents.'
    if (error.status === 401 || error.status === 403) return `You may not create documents here: ${error.message}`
  }
  const detail = error instanceof Error ? error.message : String(error)
  return `The document could not be created: ${detail}`
}
