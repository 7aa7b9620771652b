// The rich editor's ProseMirror schema. Node and mark names are Tiptap StarterKit's (paragraph,
// heading, bulletList, bold, ...), so a Tiptap client on /hocuspocus and this editor share one
// Y.XmlFragment, and the server's exporter reads both.
//
// y-prosemirror deletes from the shared document any node or mark the schema cannot build. So
// the names of prosemirror-schema-basic (bullet_list, strong, ...), which the exporter also
// accepts and other y-prosemirror clients write, are in the schema too: content written by such
// a client is shown and kept. Only the Tiptap names are offered by the toolbar and by paste.

import { Schema, type DOMOutputSpec, type MarkSpec, type NodeSpec } from 'prosemirror-model'
import { safeLinkTarget } from './link-target'

/** Heading levels the toolbar offers; levels up to 6 (from other clients) are still shown. */
export const toolbarHeadingLevels = [1, 2, 3] as const

const headingLevel = (value: unknown): number =>
  typeof value === 'number' && Number.isInteger(value) ? Math.min(Math.max(value, 1), 6) : 1

function nodeSpecs (names: { codeBlock: string, bulletList: string, orderedList: string, listItem: string, hardBreak: string, horizontalRule: string }, parsed: boolean): Record<string, NodeSpec> {
  // Only the preferred names parse HTML (paste), so pasted content always gets Tiptap's names.
  const parse = <T>(rules: T[]): T[] | undefined => parsed ? rules : undefined
  return {
    [names.codeBlock]: {
      content: 'text*',
      marks: '',
      group: 'block',
      code: true,
      defining: true,
      attrs: { language: { default: null } },
      parseDOM: parse([{ tag: 'pre', preserveWhitespace: 'full' as const }]),
      toDOM: (): DOMOutputSpec => ['pre', ['code', 0]]
    },
    [names.bulletList]: {
      content: `${names.listItem}+`,
      group: 'block',
      parseDOM: parse([{ tag: 'ul' }]),
      toDOM: (): DOMOutputSpec => ['ul', 0]
    },
    [names.orderedList]: {
      content: `${names.listItem}+`,
      group: 'block',
      attrs: { start: { default: 1 }, type: { default: null }, order: { default: null } },
      parseDOM: parse([{
        tag: 'ol',
        getAttrs: (dom: HTMLElement) => ({ start: dom.hasAttribute('start') ? Number(dom.getAttribute('start')) : 1 })
      }]),
      toDOM: (node): DOMOutputSpec => {
        const start = Number(node.attrs.start ?? node.attrs.order ?? 1)
        return Number.isInteger(start) && start !== 1 ? ['ol', { start: String(start) }, 0] : ['ol', 0]
      }
    },
    [names.listItem]: {
      content: 'paragraph block*',
      defining: true,
      parseDOM: parse([{ tag: 'li' }]),
      toDOM: (): DOMOutputSpec => ['li', 0]
    },
    [names.hardBreak]: {
      inline: true,
      group: 'inline',
      selectable: false,
      parseDOM: parse([{ tag: 'br' }]),
      toDOM: (): DOMOutputSpec => ['br']
    },
    [names.horizontalRule]: {
      group: 'block',
      parseDOM: parse([{ tag: 'hr' }]),
      toDOM: (): DOMOutputSpec => ['hr']
    }
  }
}

const nodes: Record<string, NodeSpec> = {
  doc: { content: 'block+' },
  paragraph: {
    content: 'inline*',
    group: 'block',
    parseDOM: [{ tag: 'p' }],
    toDOM: (): DOMOutputSpec => ['p', 0]
  },
  heading: {
    content: 'inline*',
    group: 'block',
    defining: true,
    attrs: { level: { default: 1 } },
    parseDOM: [1, 2, 3, 4, 5, 6].map((level) => ({ tag: `h${level}`, attrs: { level } })),
    toDOM: (node): DOMOutputSpec => [`h${headingLevel(node.attrs.level)}`, 0]
  },
  blockquote: {
    content: 'block+',
    group: 'block',
    defining: true,
    parseDOM: [{ tag: 'blockquote' }],
    toDOM: (): DOMOutputSpec => ['blockquote', 0]
  },
  ...nodeSpecs({ codeBlock: 'codeBlock', bulletList: 'bulletList', orderedList: 'orderedList', listItem: 'listItem', hardBreak: 'hardBreak', horizontalRule: 'horizontalRule' }, true),
  ...nodeSpecs({ codeBlock: 'code_block', bulletList: 'bullet_list', orderedList: 'ordered_list', listItem: 'list_item', hardBreak: 'hard_break', horizontalRule: 'horizontal_rule' }, false),
  text: { group: 'inline' }
}

const simpleMark = (tag: string, parseDOM?: MarkSpec['parseDOM']): MarkSpec => ({ parseDOM, toDOM: (): DOMOutputSpec => [tag, 0] })

const marks: Record<string, MarkSpec> = {
  // Link first: ProseMirror orders marks by their place here, so a link wraps the others.
  link: {
    // Tiptap's Link keeps these attributes; listing them keeps them when this editor rewrites a
    // paragraph that a Tiptap client linked.
    attrs: { href: { default: '' }, target: { default: null }, rel: { default: null }, class: { default: null }, title: { default: null } },
    inclusive: false,
    parseDOM: [{ tag: 'a[href]', getAttrs: (dom: HTMLElement) => ({ href: dom.getAttribute('href') ?? '' }) }],
    // A link from another client is shown without its target unless the target is safe.
    toDOM: (mark): DOMOutputSpec => {
      const href = safeLinkTarget(String(mark.attrs.href))
      return ['a', href === null ? { class: 'unsafe-link' } : { href, rel: 'noopener noreferrer nofollow', target: '_blank' }, 0]
    }
  },
  bold: simpleMark('strong', [
    { tag: 'strong' },
    { tag: 'b', getAttrs: (dom: HTMLElement) => dom.style.fontWeight !== 'normal' && null },
    { style: 'font-weight', getAttrs: (value: string) => /^(bold(er)?|[5-9]\d{2,})$/.test(value) && null }
  ]),
  italic: simpleMark('em', [{ tag: 'em' }, { tag: 'i' }, { style: 'font-style=italic' }]),
  underline: simpleMark('u', [{ tag: 'u' }, { style: 'text-decoration=underline' }]),
  strike: simpleMark('s', [{ tag: 's' }, { tag: 'del' }, { tag: 'strike' }, { style: 'text-decoration=line-through' }]),
  code: { ...simpleMark('code', [{ tag: 'code' }]), excludes: '_' },
  // prosemirror-schema-basic's names, shown like their Tiptap twins.
  strong: simpleMark('strong'),
  em: simpleMark('em')
}

export const richSchema = new Schema({ nodes, marks })
