// Which downloads a document offers, by kind, and the file names they get.
import { describe, expect, it } from 'vitest'
import { downloadFileName, downloadFormats } from '../src/downloads'

describe('downloadFormats', () => {
  it('offers the text for text documents and HTML, Markdown and ProseMirror JSON for rich ones', () => {
    expect(downloadFormats('text').map(({ format }) => format)).toEqual(['update', 'json', 'text'])
    expect(downloadFormats('rich').map(({ format }) => format)).toEqual(['html', 'markdown', 'prosemirror-json', 'json', 'update'])
  })

  it('names files after the document', () => {
    expect(downloadFileName('team/notes', 'md')).toBe('team_notes.md')
    expect(downloadFileName('../..', 'html')).toBe('document.html')
  })
})
