// @vitest-environment happy-dom
// The rich editor wired to Yjs: typing and toolbar clicks land in the Y.XmlFragment `default`
// under Tiptap's names, others' edits show up, and undo takes back only this editor's changes.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { Selection, TextSelection } from 'prosemirror-state'
import type { EditorView } from 'prosemirror-view'
import { mountRichEditor } from '../src/rich-editor'

// y-prosemirror updates its metadata on a timer; fake timers let it finish before the view goes.
const mounted: Array<() => void> = []
beforeEach(() => { vi.useFakeTimers() })
afterEach(() => {
  vi.runOnlyPendingTimers()
  for (const unmount of mounted.splice(0)) unmount()
  vi.useRealTimers()
})

function mount (doc = new Y.Doc()): { doc: Y.Doc, view: EditorView, root: HTMLElement } {
  const awareness = new Awareness(doc)
  const editor = mountRichEditor(doc, awareness, 'notes')
  document.body.append(editor.element)
  const view = editor.view as EditorView
  mounted.push(() => { view.destroy(); awareness.destroy(); editor.element.remove() })
  return { doc, view, root: editor.element }
}

const button = (root: HTMLElement, label: string): HTMLButtonElement =>
  root.querySelector<HTMLButtonElement>(`button[aria-label="${label}"]`) ?? expect.fail(`no ${label} button`)

describe('mountRichEditor', () => {
  it('writes typed text and toolbar formatting into the shared fragment', () => {
    const { doc, view, root } = mount()
    view.dispatch(view.state.tr.insertText('Plan'))
    expect(doc.getXmlFragment('default').toString()).toBe('<paragraph>Plan</paragraph>')

    button(root, 'Heading 1').click()
    expect(doc.getXmlFragment('default').toString()).toBe('<heading level="1">Plan</heading>')
    expect(button(root, 'Heading 1').getAttribute('aria-pressed')).toBe('true')
    expect(button(root, 'Heading 2').getAttribute('aria-pressed')).toBe('false')

    view.dispatch(view.state.tr.setSelection(Selection.atEnd(view.state.doc)))
    view.dispatch(view.state.tr.split(view.state.selection.from))
    view.dispatch(view.state.tr.insertText('bold'))
    // Select the new word, then bold it from the toolbar.
    const end = view.state.selection.from
    view.dispatch(view.state.tr.setSelection(TextSelection.create(view.state.doc, end - 4, end)))
    button(root, 'Bold').click()
    expect(button(root, 'Bold').getAttribute('aria-pressed')).toBe('true')
    expect(doc.getXmlFragment('default').toString()).toBe('<heading level="1">Plan</heading><heading level="1"><bold>bold</bold></heading>')
  })

  it('shows what another client writes, and undoes only its own changes', () => {
    const { doc, view, root } = mount()
    const other = new Y.Doc()
    doc.on('update', (update: Uint8Array, origin: unknown) => { if (origin !== 'remote') Y.applyUpdate(other, update, 'remote') })
    other.on('update', (update: Uint8Array, origin: unknown) => { if (origin !== 'remote') Y.applyUpdate(doc, update, 'remote') })

    view.dispatch(view.state.tr.insertText('mine'))
    const remoteParagraph = new Y.XmlElement('paragraph')
    remoteParagraph.insert(0, [new Y.XmlText('theirs')])
    other.getXmlFragment('default').insert(1, [remoteParagraph])
    expect(view.state.doc.textBetween(0, view.state.doc.content.size, '|')).toBe('mine|theirs')

    expect(button(root, 'Undo').getAttribute('aria-disabled')).toBe('false')
    button(root, 'Undo').click()
    // The paragraph this editor made goes; the other client's stays.
    expect(view.state.doc.textBetween(0, view.state.doc.content.size, '|')).toBe('theirs')
    expect(other.getXmlFragment('default').toString()).toContain('theirs')
    button(root, 'Redo').click()
    expect(view.state.doc.textBetween(0, view.state.doc.content.size, '|')).toBe('mine|theirs')
  })

  it('has a labelled toolbar with one Tab stop that arrow keys move along', () => {
    const { root } = mount()
    const toolbar = root.querySelector('[role="toolbar"]') ?? expect.fail('no toolbar')
    expect(toolbar.getAttribute('aria-label')).toBe('Formatting of notes')
    const tabStops = (): string[] => [...toolbar.querySelectorAll('button[tabindex="0"]')].map((button) => button.getAttribute('aria-label') ?? '')
    expect(tabStops()).toEqual(['Heading 1'])
    button(root, 'Heading 1').focus()
    const press = (key: string): void => { document.activeElement?.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true })) }
    press('ArrowRight')
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Heading 2')
    expect(tabStops()).toEqual(['Heading 2'])
    press('End')
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Redo')
    press('ArrowRight')
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Heading 1')
    press('ArrowLeft')
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Redo')
    expect(button(root, 'Bold').getAttribute('aria-keyshortcuts')).toBe('Control+B')
  })
})
