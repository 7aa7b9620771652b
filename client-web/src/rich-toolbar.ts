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
const mod = isMac ? '⌘' : 'Ctrl+'
const alt = isMac ? '⌥' : 'Alt+'
const shift = isMac ? '⇧' : 'Shift+'

const buttons: Record<ToolbarAction, { face: string, label: string, shortcut: string }> = {
  heading1: { face: 'H1', label: 'Heading 1', shortcut: `${mod}${alt}1` },
  heading2: { face: 'H2', label: 'Heading 2', shortcut: `${mod}${alt}2` },
  heading3: { face: 'H3', label: 'Heading 3', shortcut: `${mod}${alt}3` },
  bold: { face: 'B', label: 'Bold', shortcut: `${mod}B` },
  italic: { face: 'I', label: 'Italic', shortcut: `${mod}I` },
  strike: { face: 'S', label: 'Strikethrough', shortcut: `${mod}${shift}S` },
  code: { face: '</>', label: 'Inline code', shortcut: `${mod}E` },
  link: { face: 'Link', label: 'Link', shortcut: `${mod}K` },
  bulletList: { face: '• List', label: 'Bullet list', shortcut: `${mod}${shift}8` },
  orderedList: { face: '1. List', label: 'Numbered list', shortcut: `${mod}${shift}7` },
  blockquote: { face: '“ ”', label: 'Quote', shortcut: `${mod}${shift}B` },
  codeBlock: { face: '{ }', label: 'Code block', shortcut: `${mod}${alt}C` },
  undo: { face: '↶', label: 'Undo', shortcut: `${mod}Z` },
  redo: { face: '↷', label: 'Redo', shortcut: `${mod}${shift}Z` }
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
    return setLink(link.href)(state, dispatch)
  }

  const bar = element('div', { class: 'rich-toolbar', role: 'toolbar', 'aria-label': `Formatting of ${documentId}`, 'aria-controls': 'rich-text' })
  const buttonElements = new Map<ToolbarAction, HTMLButtonElement>()
  for (const action of toolbarActions) {
    const { face, label, shortcut } = buttons[action]
    const button = element('button', {
      type: 'button',
      class: `toolbar-button toolbar-${action}`,
      'data-action': action,
      'aria-label': label,
      'aria-pressed': action === 'undo' || action === 'redo' ? undefined : 'false',
      'aria-keyshortcuts': shortcut.replace('⌘', 'Meta+').replace('⌥', 'Alt+').replace('⇧', 'Shift+'),
      title: `${label} (${shortcut})`,
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
