// The rich editor's toolbar: one button per action in rich-commands.ts, pressed (aria-pressed)
// while the selection has it, disabled where it cannot apply. One Tab stop; the arrow keys, Home
// and End move between buttons (the ARIA toolbar pattern). The buttons never take focus from the
// text on a mouse click, so the selection they act on stays visible.

import type { Command, EditorState } from 'prosemirror-state'
import type { EditorView } from 'prosemirror-view'
import { element } from './dom'
import { readLinkInput } from './link-target'
import { actionCommands, isMarkActive, removeLink, setLink, toolbarActions, toolbarState, type ToolbarAction } from './rich-commands'
import { richSchema } from './rich-schema'

const isMac = /Mac|iPhone|iPad/.test(navigator.platform)

/** 'Mod-Shift-Z' as shown in a tooltip: "Ctrl+Shift+Z", or "⌘⇧Z" on a Mac. */
function shortcutTitle (keys: string): string {
  const parts = keys.split('-')
  if (!isMac) return parts.map((part) => part === 'Mod' ? 'Ctrl' : part).join('+')
  const symbols: Record<string, string> = { Mod: '⌘', Alt: '⌥', Shift: '⇧' }
  return parts.map((part) => symbols[part] ?? part).join('')
}

/** 'Mod-Shift-Z' as aria-keyshortcuts wants it: "Control+Shift+Z" (Meta on a Mac). */
function ariaShortcut (keys: string): string {
  return keys.split('-').map((part) => part === 'Mod' ? (isMac ? 'Meta' : 'Control') : part).join('+')
}

const buttons: Record<ToolbarAction, { face: string, label: string, keys: string }> = {
  heading1: { face: 'H1', label: 'Heading 1', keys: 'Mod-Alt-1' },
  heading2: { face: 'H2', label: 'Heading 2', keys: 'Mod-Alt-2' },
  heading3: { face: 'H3', label: 'Heading 3', keys: 'Mod-Alt-3' },
  bold: { face: 'B', label: 'Bold', keys: 'Mod-B' },
  italic: { face: 'I', label: 'Italic', keys: 'Mod-I' },
  strike: { face: 'S', label: 'Strikethrough', keys: 'Mod-Shift-S' },
  code: { face: '</>', label: 'Inline code', keys: 'Mod-E' },
  link: { face: 'Link', label: 'Link', keys: 'Mod-K' },
  bulletList: { face: '• List', label: 'Bullet list', keys: 'Mod-Shift-8' },
  orderedList: { face: '1. List', label: 'Numbered list', keys: 'Mod-Shift-7' },
  blockquote: { face: '“ ”', label: 'Quote', keys: 'Mod-Shift-B' },
  codeBlock: { face: '{ }', label: 'Code block', keys: 'Mod-Alt-C' },
  undo: { face: '↶', label: 'Undo', keys: 'Mod-Z' },
  redo: { face: '↷', label: 'Redo', keys: 'Mod-Shift-Z' }
}

export interface Toolbar {
  element: HTMLElement
  /** Shows `state`'s active and possible actions. */
  update: (state: EditorState) => void
  /** The link action: asks for the target, or removes the link the selection is in. */
  linkCommand: Command
}

export function createToolbar (documentId: string, getView: () => EditorView | undefined): Toolbar {
  const message = element('p', { class: 'toolbar-message', role: 'status' })
  const linkCommand: Command = (state, dispatch, view) => {
    if (isMarkActive(state, richSchema.marks.link)) return removeLink(state, dispatch)
    if (dispatch === undefined) return setLink('https://example.com')(state)
    const answer = window.prompt('Link address (http, https or mailto):', 'https://')
    view?.focus()
    if (answer === null) return true
    const link = readLinkInput(answer)
    if ('problem' in link) {
      message.textContent = link.problem
      return true
    }
    message.textContent = ''
    return setLink(link.href)(view?.state ?? state, dispatch)
  }

  const bar = element('div', { class: 'rich-toolbar', role: 'toolbar', 'aria-label': `Formatting of ${documentId}`, 'aria-controls': 'rich-text' })
  const buttonElements = new Map<ToolbarAction, HTMLButtonElement>()
  for (const action of toolbarActions) {
    const { face, label, keys } = buttons[action]
    const button = element('button', {
      type: 'button',
      class: `toolbar-button toolbar-${action}`,
      'data-action': action,
      'aria-label': label,
      'aria-pressed': action === 'undo' || action === 'redo' ? undefined : 'false',
      'aria-keyshortcuts': ariaShortcut(keys),
      title: `${label} (${shortcutTitle(keys)})`,
      tabindex: buttonElements.size === 0 ? '0' : '-1'
    }, face)
    // Keep the editor's focus and selection on a mouse click.
    button.addEventListener('mousedown', (event) => { event.preventDefault() })
    button.addEventListener('click', () => {
      const view = getView()
      if (view === undefined) return
      const command = action === 'link' ? linkCommand : actionCommands[action]
      command(view.state, view.dispatch, view)
      view.focus()
    })
    buttonElements.set(action, button)
    bar.append(button)
  }
  bar.addEventListener('keydown', (event) => { moveFocus(event, [...buttonElements.values()]) })

  const update = (state: EditorState): void => {
    const states = toolbarState(state)
    for (const [action, button] of buttonElements) {
      const { active, enabled } = states[action]
      if (button.hasAttribute('aria-pressed')) button.setAttribute('aria-pressed', String(active))
      // aria-disabled rather than disabled: a disabled button would drop out of the arrow-key
      // order and lose focus mid-use.
      button.setAttribute('aria-disabled', String(!enabled))
    }
  }
  return { element: element('div', { class: 'rich-toolbar-area' }, bar, message), update, linkCommand }
}

/** Arrow keys, Home and End move the single Tab stop between buttons. */
function moveFocus (event: KeyboardEvent, all: HTMLButtonElement[]): void {
  const current = all.indexOf(document.activeElement as HTMLButtonElement)
  if (current === -1) return
  const last = all.length - 1
  const next = event.key === 'ArrowRight' ? (current === last ? 0 : current + 1)
    : event.key === 'ArrowLeft' ? (current === 0 ? last : current - 1)
      : event.key === 'Home' ? 0
        : event.key === 'End' ? last
          : null
  if (next === null) return
  event.preventDefault()
  all[current].tabIndex = -1
  all[next].tabIndex = 0
  all[next].focus()
}
