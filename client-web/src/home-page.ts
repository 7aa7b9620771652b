// The home page: start a new text or rich-text document, open one by name (creating it with the
// chosen kind when it does not exist yet), and browse the documents the server has, with their
// kinds (when its API offers the list).

import { ApiError, type DocumentSummary, type QuireApi } from './api'
import { createDocument } from './create-document'
import { kindLabel, parseDocumentKind, type DocumentKind } from './document-kind'
import { element, replaceChildren } from './dom'
import { formatBytes, formatTimestamp } from './format'
import { documentPath, newDocumentId, validateDocumentName } from './route'

const pageSize = 50

export function renderHomePage (root: HTMLElement, api: QuireApi): void {
  document.title = 'Quire'
  const nameInput = element('input', {
    id: 'open-name',
    name: 'document-name',
    type: 'text',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'e.g. team/notes',
    'aria-describedby': 'open-error'
  })
  const kindSelect = element('select', { id: 'open-kind', name: 'document-kind' },
    element('option', { value: 'text', selected: true }, kindLabel('text')),
    element('option', { value: 'rich' }, kindLabel('rich'))
  )
  const openError = element('p', { id: 'open-error', class: 'form-error', role: 'alert' })
  const openButton = element('button', { type: 'submit' }, 'Open')
  const openForm = element('form', { class: 'open-form', 'aria-label': 'Open a document by name' },
    element('label', { for: 'open-name' }, 'Document name'),
    element('div', { class: 'input-row' },
      nameInput,
      openButton
    ),
    element('div', { class: 'input-row kind-row' },
      element('label', { for: 'open-kind' }, 'Kind, if it is new'),
      kindSelect
    ),
    openError
  )
  /** Creates `name` as `kind` (if new) and opens it, or says why not. */
  const createAndOpen = async (name: string, kind: DocumentKind, busy: HTMLButtonElement): Promise<void> => {
    busy.disabled = true
    const creation = await createDocument(api, name, kind)
    busy.disabled = false
    if (creation.open) {
      window.location.assign(documentPath(name))
      return
    }
    openError.textContent = creation.message
  }
  openForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = nameInput.value
    const problem = validateDocumentName(name)
    if (problem !== null) {
      openError.textContent = problem
      nameInput.setAttribute('aria-invalid', 'true')
      nameInput.focus()
      return
    }
    void createAndOpen(name, parseDocumentKind(kindSelect.value), openButton)
  })
  nameInput.addEventListener('input', () => {
    openError.textContent = ''
    nameInput.removeAttribute('aria-invalid')
  })

  const newButton = (kind: DocumentKind, label: string): HTMLButtonElement => {
    const button = element('button', { type: 'button', class: 'primary', 'data-kind': kind }, label)
    button.addEventListener('click', () => { void createAndOpen(newDocumentId(), kind, button) })
    return button
  }

  const listStatus = element('p', { class: 'list-status', role: 'status' }, 'Loading the document list…')
  const list = element('ul', { class: 'document-list', 'aria-label': 'Documents' })
  const moreButton = element('button', { type: 'button', hidden: true }, 'Show more')

  replaceChildren(root,
    element('header', { class: 'site-header' },
      element('h1', {}, element('a', { href: '/' }, 'Quire'))
    ),
    element('main', { class: 'home', id: 'main' },
      element('section', { class: 'card', 'aria-labelledby': 'start-heading' },
        element('h2', { id: 'start-heading' }, 'Start writing'),
        element('div', { class: 'button-row' },
          newButton('text', 'New text document'),
          newButton('rich', 'New rich-text document')
        ),
        openForm
      ),
      element('section', { class: 'card', 'aria-labelledby': 'documents-heading' },
        element('h2', { id: 'documents-heading' }, 'Documents'),
        listStatus,
        list,
        moreButton
      )
    )
  )

  let lastId: string | undefined
  const loadPage = async (): Promise<void> => {
    moreButton.disabled = true
    try {
      const documents = await api.listDocuments({ limit: pageSize, after: lastId })
      list.append(...documents.map(documentItem))
      lastId = documents.at(-1)?.id ?? lastId
      moreButton.hidden = documents.length < pageSize
      listStatus.textContent = list.childElementCount === 0 ? 'No documents yet: start one above.' : ''
    } catch (error) {
      moreButton.hidden = true
      listStatus.textContent = listErrorMessage(error)
    } finally {
      moreButton.disabled = false
    }
  }
  moreButton.addEventListener('click', () => { void loadPage() })
  void loadPage()
}

function documentItem (summary: DocumentSummary): HTMLLIElement {
  const people = summary.clients === 1 ? '1 person here' : `${summary.clients} people here`
  return element('li', {},
    element('a', { href: documentPath(summary.id) }, summary.id),
    element('span', { class: 'document-meta' },
      element('span', { class: 'kind-badge', 'data-kind': summary.kind }, kindLabel(summary.kind)),
      ' · ',
      `${formatBytes(summary.bytes)} · updated ${formatTimestamp(summary.updated_at)}`,
      summary.clients > 0 ? ` · ${people}` : ''
    )
  )
}

function listErrorMessage (error: unknown): string {
  if (error instanceof ApiError && error.routeMissing) {
    return 'This server does not offer a document list. Open a document by name instead.'
  }
  const detail = error instanceof Error ? error.message : String(error)
  return `The document list could not be loaded: ${detail}`
}
