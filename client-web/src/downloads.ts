// Download buttons for the document's snapshot in each API format. The file is fetched first
// (rather than a plain link) so a server without the route shows a message instead of saving
// its JSON error as the "document". Which formats are offered depends on the document's kind.

import { ApiError, type QuireApi, type SnapshotFormat } from './api'
import type { DocumentKind } from './document-kind'
import { element } from './dom'
import { sharedTextName } from './shared-text'

interface DownloadFormat { format: SnapshotFormat, label: string, extension: string }

const yjsUpdate: DownloadFormat = { format: 'update', label: 'Yjs update', extension: 'yjs' }
const json: DownloadFormat = { format: 'json', label: 'JSON', extension: 'json' }

/** The downloads offered for a document of `kind`, in button order. */
export function downloadFormats (kind: DocumentKind): DownloadFormat[] {
  return kind === 'rich'
    ? [
        { format: 'html', label: 'HTML', extension: 'html' },
        { format: 'markdown', label: 'Markdown', extension: 'md' },
        { format: 'prosemirror-json', label: 'ProseMirror JSON', extension: 'prosemirror.json' },
        json,
        yjsUpdate
      ]
    : [yjsUpdate, json, { format: 'text', label: 'Text', extension: 'txt' }]
}

/** A file name from the document id: slashes and other awkward characters become '_'. */
export function downloadFileName (documentId: string, extension: string): string {
  const base = documentId.replace(/[^\p{L}\p{N}._-]+/gu, '_').replace(/^[._]+/, '').slice(0, 100)
  return `${base === '' ? 'document' : base}.${extension}`
}

export function renderDownloads (api: QuireApi, documentId: string, kind: DocumentKind): HTMLElement {
  const message = element('p', { class: 'panel-message', role: 'status' })
  const buttons = element('div', { class: 'button-row' })
  const section = element('section', { class: 'panel', 'aria-labelledby': 'downloads-heading' },
    element('h2', { id: 'downloads-heading' }, 'Download'),
    buttons,
    message
  )
  for (const { format, label, extension } of downloadFormats(kind)) {
    const button = element('button', { type: 'button', 'data-format': format, 'aria-label': `Download as ${label}` }, label)
    button.addEventListener('click', () => {
      void (async () => {
        button.disabled = true
        message.textContent = `Preparing the ${label} download…`
        try {
          const blob = await api.snapshot(documentId, format, sharedTextName)
          saveBlob(blob, downloadFileName(documentId, extension))
          message.textContent = `Downloaded ${downloadFileName(documentId, extension)}.`
        } catch (error) {
          if (error instanceof ApiError && error.routeMissing) {
            buttons.hidden = true
            message.textContent = 'Downloads are not available on this server.'
          } else {
            message.textContent = `The download failed: ${error instanceof Error ? error.message : String(error)}`
          }
        } finally {
          button.disabled = false
        }
      })()
    })
    buttons.append(button)
  }
  return section
}

function saveBlob (blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob)
  const link = element('a', { href: url, download: fileName, hidden: true })
  document.body.append(link)
  link.click()
  link.remove()
  // The click starts the download synchronously; revoking on the next turn is safe.
  setTimeout(() => URL.revokeObjectURL(url), 0)
}
