// The rich-text editor: ProseMirror bound through y-prosemirror to the Y.XmlFragment `default`
// (the field Tiptap's Collaboration extension uses, so Tiptap clients on /hocuspocus edit the
// same document), with others' cursors from awareness, Yjs-aware undo, a toolbar and shortcuts.

import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { ySyncPlugin, yCursorPlugin, yUndoPlugin } from 'y-prosemirror'
import { EditorState, Plugin } from 'prosemirror-state'
import { EditorView } from 'prosemirror-view'
import { element } from './dom'
import type { MountedEditor } from './mounted-editor'
import { richSchema } from './rich-schema'
import { richKeyPlugins } from './rich-keys'
import { createToolbar } from './rich-toolbar'

/** The fragment's name: Tiptap Collaboration's default `field`. */
export const richFragmentName = 'default'

export function mountRichEditor (doc: Y.Doc, awareness: Awareness, documentId: string): MountedEditor {
  const fragment = doc.getXmlFragment(richFragmentName)
  let view: EditorView | undefined
  const toolbar = createToolbar(documentId, () => view)
  const host = element('div', { class: 'editor-host rich-host' })
  const toolbarUpdates = new Plugin({
    view: (editorView) => {
      toolbar.update(editorView.state)
      return { update: (updated) => { toolbar.update(updated.state) } }
    }
  })
  view = new EditorView(host, {
    state: EditorState.create({
      schema: richSchema,
      plugins: [
        ySyncPlugin(fragment),
        yCursorPlugin(awareness, { cursorBuilder: remoteCaret }),
        yUndoPlugin(),
        ...richKeyPlugins(toolbar.linkCommand),
        toolbarUpdates
      ]
    }),
    attributes: {
      id: 'rich-text',
      role: 'textbox',
      'aria-multiline': 'true',
      'aria-label': `Text of ${documentId}`,
      class: 'rich-text'
    }
  })
  const editorView = view
  return {
    element: element('div', { class: 'rich-editor' }, toolbar.element, host),
    view: editorView,
    focus: () => { editorView.focus() }
  }
}

/**
 * Another person's caret, labelled with their name in their colour. The label is hidden from
 * screen readers: the presence list already says who is here, and reading names out of the text
 * would garble it.
 */
function remoteCaret (user: { name?: unknown, color?: unknown }): HTMLElement {
  const color = typeof user.color === 'string' && /^#[0-9a-f]{6}$/i.test(user.color) ? user.color : '#666666'
  const name = typeof user.name === 'string' && user.name !== '' ? user.name : 'Anonymous'
  const label = element('span', { class: 'remote-caret-name', style: `background-color: ${color}` }, name)
  // Word joiners keep the caret from breaking a line on its own.
  return element('span', { class: 'ProseMirror-yjs-cursor remote-caret', style: `border-color: ${color}`, 'aria-hidden': 'true' }, '\u2060', label, '\u2060')
}
