// Which link targets the rich editor accepts and shows as links.
import { describe, expect, it } from 'vitest'
import { readLinkInput, safeLinkTarget } from '../src/link-target'

describe('safeLinkTarget', () => {
  it('allows http, https and mailto URLs', () => {
    expect(safeLinkTarget('https://example.com/a?b#c')).toBe('https://example.com/a?b#c')
    expect(safeLinkTarget(' HTTP://example.com ')).toBe('HTTP://example.com')
    expect(safeLinkTarget('mailto:ada@example.com')).toBe('mailto:ada@example.com')
  })

  it('refuses script and data URLs, relative paths and hidden control characters', () => {
    for (const target of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x',
      '/relative', 'example.com', 'https:example.com', 'java\tscript:alert(1)', 'https://exa\u0000mple.com', '']) {
      expect(safeLinkTarget(target), target).toBeNull()
    }
  })
})

describe('readLinkInput', () => {
  it('completes bare web and e-mail addresses', () => {
    expect(readLinkInput('example.com/docs')).toEqual({ href: 'https://example.com/docs' })
    expect(readLinkInput('ada@example.com')).toEqual({ href: 'mailto:ada@example.com' })
    expect(readLinkInput('  http://example.com  ')).toEqual({ href: 'http://example.com' })
  })

  it('explains a refusal', () => {
    expect(readLinkInput('   ')).toEqual({ problem: 'Enter a web address.' })
    expect(readLinkInput('javascript:alert(1)')).toEqual({ problem: 'Only http, https and mailto links are allowed.' })
    expect(readLinkInput('ftp://example.com')).toEqual({ problem: 'Only http, https and mailto links are allowed.' })
  })
})
