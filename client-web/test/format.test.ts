// Sizes and timestamps as lists show them.
import { describe, expect, it } from 'vitest'
import { formatBytes, parseTimestamp } from '../src/format'

describe('formatBytes', () => {
  it('picks a unit', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(12 * 1024 * 1024)).toBe('12 MiB')
  })
})

describe('parseTimestamp', () => {
  it('accepts RFC 3339 strings, seconds and milliseconds', () => {
    const expected = Date.UTC(2026, 10, 22, 5, 40, 12)
    expect(parseTimestamp('2026-11-22T05:40:12Z')?.getTime()).toBe(expected)
    expect(parseTimestamp(expected / 1000)?.getTime()).toBe(expected)
    expect(parseTimestamp(expected)?.getTime()).toBe(expected)
    expect(parseTimestamp(null)).toBeNull()
    expect(parseTimestamp('yesterday')).toBeNull()
  })
})
