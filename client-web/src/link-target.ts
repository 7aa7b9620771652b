// Which link targets the rich editor accepts: http(s) and mailto URLs only, the same rule as the
// server's exporter (crdt-core rich_text), so a `javascript:` link can neither be typed here nor
// be made clickable here by another client.

const allowedSchemes = new Set(['http:', 'https:', 'mailto:'])

/** `target` as a link's href when it is allowed, else null. */
export function safeLinkTarget (target: string): string | null {
  const trimmed = target.trim()
  // Control characters would be dropped by URL parsing and hide what the target really is.
  if (trimmed === '' || /[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return null
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    return null
  }
  if (!allowedSchemes.has(url.protocol)) return null
  if (url.protocol !== 'mailto:' && !/^https?:\/\//i.test(trimmed)) return null
  return trimmed
}

/** What the user typed into the link prompt, read as a link target or refused with a reason. */
export type LinkInput = { href: string } | { problem: string }

/**
 * Reads the link prompt's answer. A bare address ("example.com/page") gets https://, a bare
 * e-mail address gets mailto:; anything with another scheme is refused.
 */
export function readLinkInput (input: string): LinkInput {
  const trimmed = input.trim()
  if (trimmed === '') return { problem: 'Enter a web address.' }
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(trimmed)
  const candidate = hasScheme
    ? trimmed
    : /^[^\s@/]+@[^\s@/]+\.[^\s@/]+$/.test(trimmed) ? `mailto:${trimmed}` : `https://${trimmed}`
  const href = safeLinkTarget(candidate)
  if (href === null) return { problem: 'Only http, https and mailto links are allowed.' }
  return { href }
}
