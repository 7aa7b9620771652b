// The rich editor's keyboard: shortcuts for the toolbar's actions (Tiptap's choices where it has
// one, so people moving between the two find the same keys) and Markdown-like input rules
// (`# `, `- `, `1. `, `> `, three backticks, `**bold**`, `` `code` ``). Tab is left to the
// browser, as in the text editor, so keyboard users can leave the editor; lists indent with
// Mod-] and Mod-[ instead.

import { baseKeymap, chainCommands, exitCode, setBlockType, toggleMark } from 'prosemirror-commands'
import { InputRule, inputRules, textblockTypeInputRule, undoInputRule, wrappingInputRule } from 'prosemirror-inputrules'
import { keymap } from 'prosemirror-keymap'
import { liftListItem, sinkListItem, splitListItem } from 'prosemirror-schema-list'
import type { MarkType } from 'prosemirror-model'
import type { Command, Plugin } from 'prosemirror-state'
import { redoCommand, undoCommand } from 'y-prosemirror'
import { actionCommands } from './rich-commands'
import { richSchema } from './rich-schema'

const { nodes, marks } = richSchema

const insertHardBreak: Command = chainCommands(exitCode, (state, dispatch) => {
  dispatch?.(state.tr.replaceSelectionWith(nodes.hardBreak.create()).scrollIntoView())
  return true
})

const eitherListItem = (make: (type: typeof nodes.listItem) => Command): Command =>
  chainCommands(make(nodes.listItem), make(nodes.list_item))

/** Shortcuts; `openLinkPrompt` is the toolbar's link button (it asks for the target). */
export function richKeymap (openLinkPrompt: Command): Record<string, Command> {
  return {
    'Mod-z': undoCommand,
    'Mod-y': redoCommand,
    'Mod-Shift-z': redoCommand,
    'Mod-b': actionCommands.bold,
    'Mod-i': actionCommands.italic,
    'Mod-u': toggleMark(marks.underline),
    'Mod-Shift-s': actionCommands.strike,
    'Mod-e': actionCommands.code,
    'Mod-k': openLinkPrompt,
    'Mod-Alt-0': setBlockType(nodes.paragraph),
    'Mod-Alt-1': actionCommands.heading1,
    'Mod-Alt-2': actionCommands.heading2,
    'Mod-Alt-3': actionCommands.heading3,
    'Mod-Alt-c': actionCommands.codeBlock,
    'Mod-Shift-b': actionCommands.blockquote,
    'Mod-Shift-8': actionCommands.bulletList,
    'Mod-Shift-7': actionCommands.orderedList,
    Enter: eitherListItem(splitListItem),
    'Mod-]': eitherListItem(sinkListItem),
    'Mod-[': eitherListItem(liftListItem),
    'Shift-Enter': insertHardBreak,
    'Mod-Enter': insertHardBreak,
    // Backspace right after an input rule fired turns "# " back into text.
    Backspace: undoInputRule
  }
}

/** `**text**` style rules: the delimiters go, the text gets `type`. */
function markInputRule (pattern: RegExp, type: MarkType): InputRule {
  return new InputRule(pattern, (state, match, start, end) => {
    const content = match[1]
    const $start = state.doc.resolve(start)
    if (!$start.parent.type.allowsMarkType(type)) return null
    return state.tr
      .replaceWith(start, end, richSchema.text(content, type.create().addToSet($start.marks())))
      .removeStoredMark(type)
  })
}

function richInputRules (): Plugin {
  return inputRules({
    rules: [
      textblockTypeInputRule(/^(#{1,3})\s$/, nodes.heading, (match) => ({ level: match[1].length })),
      textblockTypeInputRule(/^```$/, nodes.codeBlock),
      wrappingInputRule(/^\s*>\s$/, nodes.blockquote),
      wrappingInputRule(/^\s*([-+*])\s$/, nodes.bulletList),
      wrappingInputRule(/^(\d+)\.\s$/, nodes.orderedList, (match) => ({ start: Number(match[1]) }),
        (match, node) => node.childCount + Number(node.attrs.start) === Number(match[1])),
      markInputRule(/\*\*([^*\s](?:[^*]*[^*\s])?)\*\*$/, marks.bold),
      markInputRule(/(?<![`\w])`([^`\s](?:[^`]*[^`\s])?)`$/, marks.code)
    ]
  })
}

/** The keyboard plugins, most specific first. */
export function richKeyPlugins (openLinkPrompt: Command): Plugin[] {
  return [richInputRules(), keymap(richKeymap(openLinkPrompt)), keymap(baseKeymap)]
}
