// What the rich editor's toolbar buttons and shortcuts do, and whether each is active (the
// selection is bold, in a level-2 heading, ...) or possible. Pure functions of the editor
// state, so they are unit-tested without a browser; rich-toolbar.ts draws them.

import { setBlockType, toggleMark, wrapIn, lift } from 'prosemirror-commands'
import { liftListItem, wrapInList } from 'prosemirror-schema-list'
import type { MarkType, NodeType, ResolvedPos } from 'prosemirror-model'
import type { Command, EditorState } from 'prosemirror-state'
import { redoCommand, undoCommand } from 'y-prosemirror'
import { richSchema } from './rich-schema'

const { nodes, marks } = richSchema

/** Whether the selection carries `type` (for an empty selection: what typing would get). */
export function isMarkActive (state: EditorState, type: MarkType): boolean {
  const { from, to, empty, $from } = state.selection
  if (empty) return type.isInSet(state.storedMarks ?? $from.marks()) !== undefined
  return state.doc.rangeHasMark(from, to, type)
}

/** Whether the selection starts in a textblock of `type` (with `level`, for headings). */
export function isTextblockActive (state: EditorState, type: NodeType, level?: number): boolean {
  const parent = state.selection.$from.parent
  return parent.type === type && (level === undefined || parent.attrs.level === level)
}

const listTypes = new Set([nodes.bulletList, nodes.orderedList, nodes.bullet_list, nodes.ordered_list])

/** The innermost list around `$pos` and its depth, if any. */
function innermostList ($pos: ResolvedPos): { type: NodeType, depth: number } | null {
  for (let depth = $pos.depth; depth > 0; depth--) {
    const type = $pos.node(depth).type
    if (listTypes.has(type)) return { type, depth }
  }
  return null
}

/** Whether the selection is in a list of `type` (the innermost list decides). */
export function isListActive (state: EditorState, type: NodeType): boolean {
  const list = innermostList(state.selection.$from)
  return list !== null && (list.type === type || list.type === aliasOf(type))
}

function aliasOf (type: NodeType): NodeType | undefined {
  return type === nodes.bulletList ? nodes.bullet_list : type === nodes.orderedList ? nodes.ordered_list : undefined
}

export function isInBlockquote (state: EditorState): boolean {
  const { $from } = state.selection
  for (let depth = $from.depth; depth > 0; depth--) {
    if ($from.node(depth).type === nodes.blockquote) return true
  }
  return false
}

/** Heading `level` on, or back to a paragraph when the block is one already. */
export function toggleHeading (level: number): Command {
  return (state, dispatch) => isTextblockActive(state, nodes.heading, level)
    ? setBlockType(nodes.paragraph)(state, dispatch)
    : setBlockType(nodes.heading, { level })(state, dispatch)
}

export const toggleCodeBlock: Command = (state, dispatch) => isTextblockActive(state, nodes.codeBlock)
  ? setBlockType(nodes.paragraph)(state, dispatch)
  : setBlockType(nodes.codeBlock)(state, dispatch)

export const toggleBlockquote: Command = (state, dispatch) => isInBlockquote(state)
  ? lift(state, dispatch)
  : wrapIn(nodes.blockquote)(state, dispatch)

/**
 * In a list of this type: the items leave the list. In a list of the other type: that list
 * changes type. Elsewhere: the blocks become a list.
 */
export function toggleList (type: NodeType): Command {
  return (state, dispatch) => {
    const list = innermostList(state.selection.$from)
    if (list === null) return wrapInList(type)(state, dispatch)
    const itemType = state.selection.$from.node(list.depth + 1).type
    if (list.type === type || list.type === aliasOf(type)) return liftListItem(itemType)(state, dispatch)
    const listNode = state.selection.$from.node(list.depth)
    if (!type.validContent(listNode.content)) return liftListItem(itemType)(state, dispatch)
    if (dispatch !== undefined) dispatch(state.tr.setNodeMarkup(state.selection.$from.before(list.depth), type))
    return true
  }
}

/** Where the link mark around an empty selection starts and ends. */
function linkExtent (state: EditorState): { from: number, to: number } {
  const { $from, from, to, empty } = state.selection
  if (!empty) return { from, to }
  const parent = $from.parent
  const start = $from.start()
  let extent = { from, to }
  parent.forEach((child, offset) => {
    const childFrom = start + offset
    const childTo = childFrom + child.nodeSize
    if (marks.link.isInSet(child.marks) === undefined) return
    // Adjacent linked pieces (split by another mark) count as one link.
    if (childFrom <= extent.to && childTo >= extent.from) extent = { from: Math.min(extent.from, childFrom), to: Math.max(extent.to, childTo) }
  })
  return extent
}

/**
 * Toggles `primary`; where the selection carries `alias` (prosemirror-schema-basic's `strong`
 * for `bold`), takes both off instead, so the button undoes what it shows as active.
 */
export function toggleMarkOrAlias (primary: MarkType, alias: MarkType): Command {
  return (state, dispatch) => {
    if (!isMarkActive(state, alias)) return toggleMark(primary)(state, dispatch)
    if (dispatch !== undefined) {
      const { from, to, empty } = state.selection
      dispatch(empty
        ? state.tr.removeStoredMark(alias).removeStoredMark(primary)
        : state.tr.removeMark(from, to, alias).removeMark(from, to, primary))
    }
    return true
  }
}

/** Links the selection to `href`; with nothing selected, inserts `href` itself as a link. */
export function setLink (href: string): Command {
  return (state, dispatch) => {
    if (!toggleMark(marks.link, { href })(state)) return false
    if (dispatch === undefined) return true
    const mark = marks.link.create({ href })
    const { from, to, empty } = state.selection
    const transaction = empty
      ? state.tr.insert(from, richSchema.text(href, [mark, ...state.selection.$from.marks()]))
      : state.tr.removeMark(from, to, marks.link).addMark(from, to, mark)
    dispatch(transaction.scrollIntoView())
    return true
  }
}

/** Removes the link at the selection (the whole link when the caret is inside one). */
export const removeLink: Command = (state, dispatch) => {
  if (!isMarkActive(state, marks.link)) return false
  const { from, to } = linkExtent(state)
  if (dispatch !== undefined) dispatch(state.tr.removeMark(from, to, marks.link).removeStoredMark(marks.link))
  return true
}

/** Every toolbar action, in toolbar order. */
export const toolbarActions = [
  'heading1', 'heading2', 'heading3', 'bold', 'italic', 'strike', 'code', 'link',
  'bulletList', 'orderedList', 'blockquote', 'codeBlock', 'undo', 'redo'
] as const
export type ToolbarAction = typeof toolbarActions[number]

/** What a button shows: pressed (the selection has it) and enabled (it can be applied). */
export interface ActionState { active: boolean, enabled: boolean }

/** The command a button runs; link is asked for its target first, so it is not here. */
export const actionCommands: Record<Exclude<ToolbarAction, 'link'>, Command> = {
  heading1: toggleHeading(1),
  heading2: toggleHeading(2),
  heading3: toggleHeading(3),
  bold: toggleMarkOrAlias(marks.bold, marks.strong),
  italic: toggleMarkOrAlias(marks.italic, marks.em),
  strike: toggleMark(marks.strike),
  code: toggleMark(marks.code),
  bulletList: toggleList(nodes.bulletList),
  orderedList: toggleList(nodes.orderedList),
  blockquote: toggleBlockquote,
  codeBlock: toggleCodeBlock,
  undo: undoCommand,
  redo: redoCommand
}

function isActive (state: EditorState, action: ToolbarAction): boolean {
  switch (action) {
    case 'heading1': return isTextblockActive(state, nodes.heading, 1)
    case 'heading2': return isTextblockActive(state, nodes.heading, 2)
    case 'heading3': return isTextblockActive(state, nodes.heading, 3)
    // Bold and italic written by a prosemirror-schema-basic client count too.
    case 'bold': return isMarkActive(state, marks.bold) || isMarkActive(state, marks.strong)
    case 'italic': return isMarkActive(state, marks.italic) || isMarkActive(state, marks.em)
    case 'strike': return isMarkActive(state, marks.strike)
    case 'code': return isMarkActive(state, marks.code)
    case 'link': return isMarkActive(state, marks.link)
    case 'bulletList': return isListActive(state, nodes.bulletList)
    case 'orderedList': return isListActive(state, nodes.orderedList)
    case 'blockquote': return isInBlockquote(state)
    case 'codeBlock': return isTextblockActive(state, nodes.codeBlock) || isTextblockActive(state, nodes.code_block)
    case 'undo': case 'redo': return false
  }
}

/** Every button's state for `state`. */
export function toolbarState (state: EditorState): Record<ToolbarAction, ActionState> {
  const result = {} as Record<ToolbarAction, ActionState>
  for (const action of toolbarActions) {
    const active = isActive(state, action)
    const enabled = action === 'link'
      ? active || toggleMark(marks.link, { href: '' })(state)
      : active || actionCommands[action](state) === true
    result[action] = { active, enabled }
  }
  return result
}
