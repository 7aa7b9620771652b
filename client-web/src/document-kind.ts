// A document's kind: plain text (CodeMirror on the Y.Text `text`) or rich text (ProseMirror on
// the Y.XmlFragment `default`). The server stores the kind (docs/http-api.md); this module reads
// it from the API's answers and decides which editor a page opens when the answer is missing.

export type DocumentKind = 'text' | 'rich'

export const documentKinds: readonly DocumentKind[] = ['text', 'rich']

/** The kind named by `value`; anything else (an older server says nothing) is 'text'. */
export function parseDocumentKind (value: unknown): DocumentKind {
  return value === 'rich' ? 'rich' : 'text'
}

/** How the kind is shown next to a document's name. */
export function kindLabel (kind: DocumentKind): string {
  return kind === 'rich' ? 'Rich text' : 'Text'
}

/** The outcome of asking the server for the document's metadata. */
export type MetadataAnswer =
  | { outcome: 'found', kind: DocumentKind }
  /** The server has no such document (yet). */
  | { outcome: 'not-found' }
  /** No usable answer: network down, a refused token, a server error. */
  | { outcome: 'unanswered' }

/**
 * Which editor to open. The server's answer wins. A document the server does not have yet is
 * created implicitly by the first edit, as text. When the server could not answer (network
 * down, a refused token), the kind this browser saw last time is used, so an offline reload of a
 * rich document does not open its IndexedDB copy as plain text; failing that, text.
 */
export function editorKindFor (answer: MetadataAnswer, remembered: DocumentKind | null): DocumentKind {
  switch (answer.outcome) {
    case 'found': return answer.kind
    case 'not-found': return 'text'
    case 'unanswered': return remembered ?? 'text'
  }
}

/** The parts of Web Storage used here, so tests can pass a Map-backed fake. */
export type KindStorage = Pick<Storage, 'getItem' | 'setItem'>

const kindKeyPrefix = 'quire.kind:'

/** The kind this browser last saw for `documentId`, or null. */
export function rememberedKind (storage: KindStorage | null, documentId: string): DocumentKind | null {
  try {
    const stored = storage?.getItem(kindKeyPrefix + documentId) ?? null
    return stored === 'text' || stored === 'rich' ? stored : null
  } catch {
    return null
  }
}

/** Remembers the kind the server gave for `documentId`. */
export function rememberKind (storage: KindStorage | null, documentId: string, kind: DocumentKind): void {
  try {
    storage?.setItem(kindKeyPrefix + documentId, kind)
  } catch {
    // Storage full or disabled: an offline reload falls back to text, nothing else breaks.
  }
}
