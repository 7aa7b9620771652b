// The versions panel: name the current state, list saved versions, restore one. Hidden with a
// note when the server has no versions API.

import { ApiError, type QuireApi, type Version } from './api'
import { element, replaceChildren } from './dom'
import { formatTimestamp } from './format'

export function renderVersionsPanel (api: QuireApi, documentId: string): HTMLElement {
  const message = element('p', { class: 'panel-message', role: 'status' }, 'Loading versions…')
  const labelInput = element('input', { id: 'version-label', type: 'text', maxlength: '200', autocomplete: 'off', placeholder: 'e.g. First draft' })
  const createButton = element('button', { type: 'submit' }, 'Save version')
  const form = element('form', { class: 'version-form', 'aria-label': 'Save a version', hidden: true },
    element('label', { for: 'version-label' }, 'Version label'),
    element('div', { class: 'input-row' }, labelInput, createButton)
  )
  const list = element('ul', { class: 'version-list', 'aria-label': 'Saved versions' })
  const section = element('section', { class: 'panel', 'aria-labelledby': 'versions-heading' },
    element('h2', { id: 'versions-heading' }, 'Versions'),
    form,
    list,
    message
  )

  const showError = (what: string, error: unknown): void => {
    if (error instanceof ApiError && error.routeMissing) {
      form.hidden = true
      list.hidden = true
      message.textContent = 'Versions are not available on this server.'
      return
    }
    message.textContent = `${what}: ${error instanceof Error ? error.message : String(error)}`
  }

  const refresh = async (): Promise<void> => {
    try {
      const versions = await api.listVersions(documentId)
      form.hidden = false
      replaceChildren(list, ...versions.map((version) => versionItem(version, restore)))
      message.textContent = versions.length === 0 ? 'No versions saved yet.' : ''
    } catch (error) {
      if (error instanceof ApiError && error.code === 'document_not_found') {
        // Nothing stored yet (a brand-new document): no versions, but one can be saved.
        form.hidden = false
        replaceChildren(list)
        message.textContent = 'No versions saved yet.'
        return
      }
      showError('The versions could not be loaded', error)
    }
  }

  const restore = async (version: Version, button: HTMLButtonElement): Promise<void> => {
    const name = version.label === '' ? version.version_id : `“${version.label}”`
    if (!window.confirm(`Restore ${name}? The text is replaced by that version for everyone in the document.`)) return
    button.disabled = true
    try {
      await api.restoreVersion(documentId, version.version_id)
      message.textContent = `Restored ${name}.`
      await refresh()
    } catch (error) {
      showError('The version could not be restored', error)
    } finally {
      button.disabled = false
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void (async () => {
      createButton.disabled = true
      try {
        const version = await api.createVersion(documentId, labelInput.value.trim())
        labelInput.value = ''
        await refresh()
        message.textContent = `Saved version ${version.label === '' ? version.version_id : `“${version.label}”`}.`
      } catch (error) {
        showError('The version could not be saved', error)
      } finally {
        createButton.disabled = false
      }
    })()
  })

  void refresh()
  return section
}

function versionItem (version: Version, restore: (version: Version, button: HTMLButtonElement) => Promise<void>): HTMLLIElement {
  const title = version.label === '' ? 'Untitled version' : version.label
  const button = element('button', { type: 'button', class: 'small', 'aria-label': `Restore ${title}` }, 'Restore')
  button.addEventListener('click', () => { void restore(version, button) })
  return element('li', { 'data-version-id': version.version_id },
    element('span', { class: 'version-title' }, title),
    element('span', { class: 'version-time' }, formatTimestamp(version.created_at)),
    button
  )
}
