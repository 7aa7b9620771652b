// Rich text as stock y-prosemirror writes it, exported by the server: its ProseMirror JSON is the
// very document the editor had (checked by ProseMirror's own schema), and its HTML and Markdown
// hold the same content, sanitised.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Schema } from 'prosemirror-model'
import { schema as basicSchema } from 'prosemirror-schema-basic'
import { addListNodes } from 'prosemirror-schema-list'
import { prosemirrorJSONToYDoc } from 'y-prosemirror'
import { startQuire, connectProvider, synced, within } from './harness.mjs'

const schema = new Schema({
  nodes: addListNodes(basicSchema.spec.nodes, 'paragraph block*', 'block'),
  marks: basicSchema.spec.marks
})

const text = (value, marks) => marks ? { type: 'text', text: value, marks } : { type: 'text', text: value }

const editorDocument = {
  type: 'doc',
  content: [
    { type: 'heading', attrs: { level: 2 }, content: [text('Plan & <notes>')] },
    {
      type: 'paragraph',
      content: [
        text('Some '), text('bold', [{ type: 'strong' }]), text(', '), text('slanted', [{ type: 'em' }]),
        text(' and a '), text('link', [{ type: 'link', attrs: { href: 'https://example.com/docs', title: null } }]), text('.')
      ]
    },
    {
      type: 'bullet_list',
      content: [
        { type: 'list_item', content: [{ type: 'paragraph', content: [text('one')] }] },
        { type: 'list_item', content: [{ type: 'paragraph', content: [text('two')] }] }
      ]
    },
    { type: 'blockquote', content: [{ type: 'paragraph', content: [text('quoted')] }] },
    { type: 'code_block', content: [text('let x = 1;')] },
    { type: 'horizontal_rule' }
  ]
}

/** The document arrives from a y-prosemirror client through /ws, then is read over HTTP. */
test('a y-prosemirror document exports as the same ProseMirror document, HTML and Markdown', async (t) => {
  const server = await startQuire()
  t.after(() => server.stop())
  // A rich document is declared before anyone types: its kind decides which formats it has.
  const created = await fetch(`${server.url}/api/docs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'article', kind: 'rich' })
  })
  assert.equal(created.status, 201)
  assert.equal((await created.json()).kind, 'rich')
  const editor = connectProvider(server, 'article')
  t.after(() => editor.close())
  await synced(editor.provider)
  const written = prosemirrorJSONToYDoc(schema, editorDocument, 'prosemirror')
  Y.applyUpdate(editor.doc, Y.encodeStateAsUpdate(written))
  const wanted = schema.nodeFromJSON(editorDocument)

  // Polled until the server has the edit: it arrives over the socket, not through this request.
  let exported = null
  const arrived = async () => {
    for (;;) {
      const reply = await fetch(`${server.url}/api/docs/article/snapshot?format=prosemirror-json`)
      if (reply.status === 200) {
        exported = await reply.json()
        if (schema.nodeFromJSON(exported).eq(wanted)) return
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  await within(arrived(), 10000, 'the edit to reach the server as the same document')
  assert.ok(schema.nodeFromJSON(exported).eq(wanted), 'the same document, by ProseMirror\'s own equality')

  const html = await (await fetch(`${server.url}/api/docs/article/snapshot?format=html`)).text()
  assert.equal(html,
    '<h2>Plan &amp; &lt;notes&gt;</h2>' +
    '<p>Some <strong>bold</strong>, <em>slanted</em> and a <a href="https://example.com/docs">link</a>.</p>' +
    '<ul><li><p>one</p></li><li><p>two</p></li></ul>' +
    '<blockquote><p>quoted</p></blockquote>' +
    '<pre><code>let x = 1;</code></pre><hr>')

  const markdown = await (await fetch(`${server.url}/api/docs/article/snapshot?format=markdown`)).text()
  assert.equal(markdown,
    '## Plan & \\<notes\\>\n\nSome **bold**, *slanted* and a [link](https://example.com/docs).\n\n' +
    '- one\n- two\n\n> quoted\n\n```\nlet x = 1;\n```\n\n---\n')
})

/** A document open in a room cannot be created with a kind: its clients already edit it. */
test('creating a document someone has open is a conflict', async (t) => {
  const server = await startQuire()
  t.after(() => server.stop())
  const editor = connectProvider(server, 'open-notes')
  t.after(() => editor.close())
  await synced(editor.provider)
  const created = await fetch(`${server.url}/api/docs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'open-notes', kind: 'rich' })
  })
  assert.equal(created.status, 409)
  assert.equal((await created.json()).code, 'document_exists')
})
