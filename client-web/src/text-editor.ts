// The plain-text editor: CodeMirror 6 bound to the Y.Text `text` through y-codemirror.next, with
// others' cursors from awareness and Yjs-aware undo. Tab is left to the browser so keyboard
// users can leave the text area.

import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { EditorState } from '@codemirror/state'
import { EditorView, drawSelection, highlightActiveLine, keymap, placeholder } from '@codemirror/view'
import { defaultKeymap } from '@codemirror/commands'
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search'
import { element } from './dom'
import type { MountedEditor } from './mounted-editor'
import { sharedTextName } from './shared-text'

export function mountTextEditor (doc: Y.Doc, awareness: Awareness, documentId: string): MountedEditor {
  const text = doc.getText(sharedTextName)
  const host = element('div', { class: 'editor-host' })
  const undoManager = new Y.UndoManager(text)
  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: text.toString(),
      extensions: [
        keymap.of([...yUndoManagerKeymap, ...defaultKeymap, ...searchKeymap]),
        yCollab(text, awareness, { undoManager }),
        drawSelection(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        EditorView.lineWrapping,
        placeholder('Start typing…'),
        EditorView.contentAttributes.of({ 'aria-label': `Text of ${documentId}`, 'aria-multiline': 'true' })
      ]
    })
  })
  return { element: host, view, focus: () => { view.focus() } }
}
