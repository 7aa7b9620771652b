// Entry point: picks the page for the current path. Pages are full loads (the server answers
// /d/* with this same index.html), so there is no client-side router to keep in step.

// ProseMirror's required rules load with the page: the rich editor checks them as it starts.
import 'prosemirror-view/style/prosemirror.css'
import './styles.css'
import { QuireApi } from './api'
import { parseRoute, documentPath } from './route'
import { renderHomePage } from './home-page'
import { renderEditorPage } from './editor-page'
import { element, replaceChildren } from './dom'

const root = document.getElementById('app')
if (root === null) throw new Error('index.html has no #app element')
const api = new QuireApi()
const route = parseRoute(window.location.pathname)

switch (route.page) {
  case 'home':
    renderHomePage(root, api)
    break
  case 'editor':
    // Canonical form, so the address bar shows one spelling per document.
    if (documentPath(route.documentId) !== window.location.pathname) {
      window.history.replaceState(null, '', documentPath(route.documentId))
    }
    renderEditorPage(root, api, route.documentId)
    break
  case 'not-found':
    document.title = 'Not found · Quire'
    replaceChildren(root,
      element('main', { class: 'home', id: 'main' },
        element('section', { class: 'card' },
          element('h1', {}, 'No such page'),
          element('p', {}, 'That address is not a valid document name. ', element('a', { href: '/' }, 'See all documents.'))
        )
      )
    )
    break
}
