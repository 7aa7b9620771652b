// The rich editor's toolbar: what each button does, and when it shows as pressed or possible.
import { describe, expect, it } from 'vitest'
import { EditorState, TextSelection, type Command } from 'prosemirror-state'
import type { Node } from 'prosemirror-model'
import { actionCommands, removeLink, setLink, toolbarState } from '../src/rich-commands'
import { richSchema } from '../src/rich-schema'

const text = (value: string, marks?: Array<{ type: string, attrs?: Record<string, unknown> }>): unknown =>
  marks === undefined ? { type: 'text', text: value } : { type: 'text', text: value, marks }
const paragraph = (...content: unknown[]): unknown => ({ type: 'paragraph', content })

/** A state over `content`, with the selection from `from` to `to` (document positions). */
function stateOf (content: unknown[], from: number, to = from): EditorState {
  const doc = richSchema.nodeFromJSON({ type: 'doc', content })
  return EditorState.create({ doc, selection: TextSelection.create(doc, from, to) })
}

function run (state: EditorState, command: Command): EditorState {
  let next = state
  expect(command(state, (transaction) => { next = state.apply(transaction) })).toBe(true)
  return next
}

const json = (doc: Node): unknown => doc.toJSON()

describe('toolbar commands', () => {
  it('toggles bold on the selection and shows it pressed', () => {
    const state = stateOf([paragraph(text('hello world'))], 1, 6)
    expect(toolbarState(state).bold).toEqual({ active: false, enabled: true })
    const bold = run(state, actionCommands.bold)
    expect(json(bold.doc)).toEqual({ type: 'doc', content: [paragraph(text('hello', [{ type: 'bold' }]), text(' world'))] })
    expect(toolbarState(bold).bold.active).toBe(true)
    expect(toolbarState(bold).italic.active).toBe(false)
    const plain = run(bold, actionCommands.bold)
    expect(json(plain.doc)).toEqual({ type: 'doc', content: [paragraph(text('hello world'))] })
  })

  it('treats prosemirror-schema-basic strong as bold, and unbolds it', () => {
    const state = stateOf([paragraph(text('basic', [{ type: 'strong' }]))], 1, 6)
    expect(toolbarState(state).bold.active).toBe(true)
    const plain = run(state, actionCommands.bold)
    expect(json(plain.doc)).toEqual({ type: 'doc', content: [paragraph(text('basic'))] })
  })

  it('turns a paragraph into a heading of each level and back', () => {
    const state = stateOf([paragraph(text('Title'))], 2)
    const heading = run(state, actionCommands.heading2)
    expect(json(heading.doc)).toEqual({ type: 'doc', content: [{ type: 'heading', attrs: { level: 2 }, content: [text('Title')] }] })
    const pressed = toolbarState(heading)
    expect([pressed.heading1.active, pressed.heading2.active, pressed.heading3.active]).toEqual([false, true, false])
    const level1 = run(heading, actionCommands.heading1)
    expect(toolbarState(level1).heading1.active).toBe(true)
    const back = run(level1, actionCommands.heading1)
    expect(json(back.doc)).toEqual({ type: 'doc', content: [paragraph(text('Title'))] })
  })

  it('wraps in a bullet list, switches it to numbered, and lifts it out', () => {
    const state = stateOf([paragraph(text('item'))], 2)
    const bullets = run(state, actionCommands.bulletList)
    const item = { type: 'listItem', content: [paragraph(text('item'))] }
    expect(json(bullets.doc)).toEqual({ type: 'doc', content: [{ type: 'bulletList', content: [item] }] })
    expect(toolbarState(bullets).bulletList.active).toBe(true)
    expect(toolbarState(bullets).orderedList.active).toBe(false)
    const numbered = run(bullets, actionCommands.orderedList)
    expect(json(numbered.doc)).toEqual({ type: 'doc', content: [{ type: 'orderedList', attrs: { start: 1, type: null, order: null }, content: [item] }] })
    expect(toolbarState(numbered).orderedList.active).toBe(true)
    const lifted = run(numbered, actionCommands.orderedList)
    expect(json(lifted.doc)).toEqual({ type: 'doc', content: [paragraph(text('item'))] })
  })

  it('quotes a block and unquotes it; makes a code block and undoes it', () => {
    const state = stateOf([paragraph(text('said'))], 2)
    const quoted = run(state, actionCommands.blockquote)
    expect(json(quoted.doc)).toEqual({ type: 'doc', content: [{ type: 'blockquote', content: [paragraph(text('said'))] }] })
    expect(toolbarState(quoted).blockquote.active).toBe(true)
    expect(json(run(quoted, actionCommands.blockquote).doc)).toEqual(json(state.doc))

    const code = run(state, actionCommands.codeBlock)
    expect(json(code.doc)).toEqual({ type: 'doc', content: [{ type: 'codeBlock', attrs: { language: null }, content: [text('said')] }] })
    const codeState = toolbarState(code)
    expect(codeState.codeBlock.active).toBe(true)
    // Marks cannot go into code: the buttons say so.
    expect(codeState.bold.enabled).toBe(false)
    expect(codeState.link.enabled).toBe(false)
  })

  it('links the selection, inserts a link at a caret, and removes a whole link from inside it', () => {
    const state = stateOf([paragraph(text('see docs'))], 5, 9)
    const linked = run(state, setLink('https://example.com'))
    const link = { type: 'link', attrs: { href: 'https://example.com', target: null, rel: null, class: null, title: null } }
    expect(json(linked.doc)).toEqual({ type: 'doc', content: [paragraph(text('see '), text('docs', [link]))] })

    const inside = linked.apply(linked.tr.setSelection(TextSelection.create(linked.doc, 7)))
    expect(toolbarState(inside).link.active).toBe(true)
    const unlinked = run(inside, removeLink)
    expect(json(unlinked.doc)).toEqual({ type: 'doc', content: [paragraph(text('see docs'))] })

    const caret = stateOf([paragraph(text('at '))], 4)
    const inserted = run(caret, setLink('mailto:ada@example.com'))
    expect(inserted.doc.textContent).toBe('at mailto:ada@example.com')
    expect(toolbarState(caret).link.active).toBe(false)
  })
})
