// Which page a URL path shows, and how document names travel in URLs.
//
// A document name is any UTF-8 string of 1 to 512 bytes without control characters (the
// server's room-name rule, docs/protocol.md). Names may contain slashes: page URLs keep them as
// path separators (/d/team/notes) so they stay readable, and each segment is percent-encoded so
// '?', '#', '%' and spaces survive the trip.

/** What the current path asks for. */
export type Route =
  | { page: 'home' }
  | { page: 'editor'; documentId: string }
  | { page: 'not-found'; path: string }

const maximumNameBytes = 512

/** Reads the route from `location.pathname`. */
export function parseRoute (pathname: string): Route {
  if (pathname === '/' || pathname === '' || pathname === '/index.html') return { page: 'home' }
  if (pathname.startsWith('/d/')) {
    const documentId = decodePathSegments(pathname.slice('/d/'.length))
    if (documentId !== null && validateDocumentName(documentId) === null) {
      return { page: 'editor', documentId }
    }
  }
  return { page: 'not-found', path: pathname }
}

/** Percent-encodes each '/'-separated segment, keeping the slashes. */
export function encodePathSegments (name: string): string {
  return name.split('/').map(encodeURIComponent).join('/')
}

/** Reverses encodePathSegments; null when the path holds a broken escape. */
export function decodePathSegments (path: string): string | null {
  try {
    return path.split('/').map(decodeURIComponent).join('/')
  } catch {
    return null
  }
}

/** The page path of a document's editor. */
export function documentPath (documentId: string): string {
  return '/d/' + encodePathSegments(documentId)
}

/**
 * The two halves y-websocket joins as `serverUrl + '/' + roomname`: it appends the room name
 * unescaped, so the name is encoded here and the server percent-decodes it back.
 */
export function websocketTarget (location: { protocol: string, host: string }, documentId: string): { serverUrl: string, roomName: string } {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return { serverUrl: `${scheme}//${location.host}/ws`, roomName: encodePathSegments(documentId) }
}

/** Why `name` cannot be a document name, or null when it can. */
export function validateDocumentName (name: string): string | null {
  if (name.length === 0) return 'Enter a document name.'
  if (new TextEncoder().encode(name).length > maximumNameBytes) {
    return `A document name is at most ${maximumNameBytes} bytes long.`
  }
  // Same rule as the server: C0 controls, DEL and C1 controls are refused.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'A document name cannot contain control characters.'
  return null
}

/** A fresh random document name (a UUID v4). */
export function newDocumentId (cryptoSource: Pick<Crypto, 'getRandomValues'> & { randomUUID?: () => string } = crypto): string {
  // randomUUID exists only in secure contexts (https, localhost); plain http on a LAN address
  // still has getRandomValues, so build the UUID by hand there.
  if (typeof cryptoSource.randomUUID === 'function') return cryptoSource.randomUUID()
  const bytes = cryptoSource.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6] & 0x0f) | 0x40
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
