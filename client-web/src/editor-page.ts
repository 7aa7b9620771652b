// The editor page at /d/{id}: the shell around either editor. It asks the server for the
// document's kind, then syncs the Y.Doc over y-websocket with room {id}, keeps it in IndexedDB
// for offline edits, and shows connection and save status, presence, the name form, downloads
// and versions. The editor itself is text-editor.ts (CodeMirror) or rich-editor.ts (ProseMirror).

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { IndexeddbPersistence } from 'y-indexeddb'
import { ApiError, type QuireApi } from './api'
import { editorKindFor, kindLabel, rememberKind, rememberedKind, type DocumentKind, type MetadataAnswer } from './document-kind'
import { element, replaceChildren } from './dom'
import { awarenessUser, loadIdentity, rename, type Identity } from './identity'
import { connectionLabel, initialConnection, nextConnection, type ConnectionEvent } from './connection-status'
import { saveLabel, type SaveState } from './save-tracker'
import { trackSaving } from './server-acknowledgement'
import { bindPresenceList } from './presence-list'
import { renderDownloads } from './downloads'
import { renderVersionsPanel } from './versions-panel'
import { websocketTarget } from './route'
import type { MountedEditor } from './mounted-editor'

/** Quire's close code for a deleted document (server/src/close_code.rs). */
const documentDeletedCloseCode = 4410

export function renderEditorPage (root: HTMLElement, api: QuireApi, documentId: string): void {
  document.title = `${documentId} · Quire`
  const status = element('p', { class: 'page-loading', role: 'status' }, `Opening ${documentId}…`)
  replaceChildren(root, status)
  void (async () => {
    const answer = await askKind(api, documentId)
    if (answer.outcome === 'found') rememberKind(safeLocalStorage(), documentId, answer.kind)
    const kind = editorKindFor(answer, rememberedKind(safeLocalStorage(), documentId))
    let mount: MountEditor
    try {
      // Each editor is its own chunk: a page loads CodeMirror or ProseMirror, not both.
      mount = kind === 'rich'
        ? (await import('./rich-editor')).mountRichEditor
        : (await import('./text-editor')).mountTextEditor
    } catch (error) {
      // The server went away, or was upgraded and no longer has this page's chunk.
      status.textContent = `The editor could not be loaded (${error instanceof Error ? error.message : String(error)}). Reload the page to try again.`
      return
    }
    renderEditor(root, api, documentId, kind, mount)
  })()
}

type MountEditor = (doc: Y.Doc, awareness: WebsocketProvider['awareness'], documentId: string) => MountedEditor

/** The server's answer about the document's kind, reduced to what the choice needs. */
async function askKind (api: QuireApi, documentId: string): Promise<MetadataAnswer> {
  try {
    return { outcome: 'found', kind: (await api.getDocument(documentId)).kind }
  } catch (error) {
    // document_not_found, or not_found from a server without the route: nothing stored yet.
    if (error instanceof ApiError && error.status === 404) return { outcome: 'not-found' }
    return { outcome: 'unanswered' }
  }
}

function renderEditor (root: HTMLElement, api: QuireApi, documentId: string, kind: DocumentKind, mount: MountEditor): void {
  const doc = new Y.Doc()
  const { serverUrl, roomName } = websocketTarget(window.location, documentId)
  // No BroadcastChannel: each tab talks to the server itself, so "saved" means the server
  // confirmed this tab's changes, not that another tab heard them.
  const provider = new WebsocketProvider(serverUrl, roomName, doc, { disableBc: true })
  const localCopy = openLocalCopy(documentId, doc)

  let identity: Identity = loadIdentity(safeLocalStorage())
  provider.awareness.setLocalStateField('user', awarenessUser(identity))

  // Status badges. role=status makes screen readers announce changes politely.
  const connectionBadge = element('span', { id: 'connection-status', class: 'badge', role: 'status', 'data-state': 'connecting' })
  const saveBadge = element('span', { id: 'save-status', class: 'badge', role: 'status', 'data-state': 'loading' })
  let connection = initialConnection(navigator.onLine)
  const showConnection = (event?: ConnectionEvent): void => {
    if (event !== undefined) connection = nextConnection(connection, event)
    connectionBadge.dataset.state = connection.state
    connectionBadge.textContent = connectionLabel(connection)
  }
  showConnection()
  provider.on('status', ({ status }) => { showConnection({ type: 'provider', status }) })
  provider.on('closed', ({ code, reason }) => {
    if (code === documentDeletedCloseCode) {
      // The document was deleted on the server. Forget the local copy too, or the next visit
      // would upload it again and bring the document back.
      void localCopy?.clearData()
      showConnection({ type: 'closed', reason: 'this document was deleted' })
      return
    }
    showConnection({ type: 'closed', reason })
  })
  window.addEventListener('online', () => { showConnection({ type: 'browser-online' }) })
  window.addEventListener('offline', () => { showConnection({ type: 'browser-offline' }) })

  const showSave = (state: SaveState): void => {
    saveBadge.dataset.state = state
    saveBadge.textContent = saveLabel(state, localCopy !== null)
  }
  const saving = trackSaving(provider, doc, showSave)
  showSave(saving.state)
  window.addEventListener('beforeunload', (event) => {
    // With IndexedDB the changes survive the tab; without it they would be lost.
    if (localCopy === null && saving.pendingChanges > 0) event.preventDefault()
  })

  const editor = mount(doc, provider.awareness, documentId)

  // Name form: Enter or leaving the field applies it.
  const nameInput = element('input', { id: 'user-name', type: 'text', maxlength: '40', autocomplete: 'nickname', value: identity.name })
  const swatch = element('span', { class: 'swatch', style: `background-color: ${identity.color}`, 'aria-hidden': 'true' })
  const applyName = (): void => {
    identity = rename(safeLocalStorage(), identity, nameInput.value)
    nameInput.value = identity.name
    provider.awareness.setLocalStateField('user', awarenessUser(identity))
  }
  const nameForm = element('form', { class: 'name-form' },
    element('label', { for: 'user-name' }, 'Your name'),
    element('div', { class: 'input-row' }, swatch, nameInput, element('button', { type: 'submit' }, 'Set'))
  )
  nameForm.addEventListener('submit', (event) => { event.preventDefault(); applyName() })
  nameInput.addEventListener('change', applyName)

  const presenceList = element('ul', { id: 'presence-list', class: 'presence-list', 'aria-labelledby': 'presence-heading', 'aria-live': 'polite' })
  const presenceSummary = element('span', { class: 'presence-summary' })
  bindPresenceList(presenceList, presenceSummary, provider.awareness)

  replaceChildren(root,
    element('header', { class: 'site-header' },
      element('h1', {}, element('a', { href: '/', 'aria-label': 'Quire: all documents' }, 'Quire')),
      element('span', { class: 'document-title', title: documentId }, documentId),
      element('span', { class: 'kind-badge', id: 'document-kind', 'data-kind': kind }, kindLabel(kind)),
      element('div', { class: 'status-bar' }, connectionBadge, saveBadge)
    ),
    element('main', { class: 'editor-layout', id: 'main' },
      element('section', { class: 'editor-pane', 'aria-label': 'Editor', 'data-kind': kind }, editor.element),
      element('aside', { class: 'side-panel', 'aria-label': 'Document tools' },
        element('section', { class: 'panel' }, nameForm),
        element('section', { class: 'panel', 'aria-labelledby': 'presence-heading' },
          element('h2', { id: 'presence-heading' }, 'Who is here ', presenceSummary),
          presenceList
        ),
        renderDownloads(api, documentId, kind),
        renderVersionsPanel(api, documentId)
      )
    )
  )
  editor.focus()

  // For debugging from the console and for the browser tests' final comparisons.
  Object.assign(window, { quire: { doc, provider, view: editor.view, saving, kind } })
}

/** IndexedDB copy of the document, or null where the browser has no IndexedDB. */
function openLocalCopy (documentId: string, doc: Y.Doc): IndexeddbPersistence | null {
  if (typeof indexedDB === 'undefined') return null
  try {
    const persistence = new IndexeddbPersistence(`quire:${documentId}`, doc)
    // Private modes may refuse to open the database; the editor works on without it.
    persistence.whenSynced.catch(() => {})
    return persistence
  } catch {
    return null
  }
}

function safeLocalStorage (): Storage | null {
  try {
    return window.localStorage
  } catch {
    return null
  }
}
