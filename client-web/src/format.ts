// Display formatting for sizes and timestamps shown in lists.

/** "0 B", "1.5 KiB", "12 MiB". */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1
  return `${value.toFixed(digits)} ${units[unit]}`
}

/**
 * A Date from the API's timestamp. Numbers below 10^11 are taken as seconds (that is the year
 * 5138 in seconds but only 1973 in milliseconds), larger ones as milliseconds; strings as ISO
 * 8601. Null when absent or unreadable.
 */
export function parseTimestamp (value: number | string | null): Date | null {
  if (value === null) return null
  const milliseconds = typeof value === 'number'
    ? (Math.abs(value) < 1e11 ? value * 1000 : value)
    : Date.parse(value)
  return Number.isFinite(milliseconds) ? new Date(milliseconds) : null
}

/** Local date and time, or a dash when unknown. */
export function formatTimestamp (value: number | string | null): string {
  const date = parseTimestamp(value)
  return date === null ? '—' : date.toLocaleString()
}
