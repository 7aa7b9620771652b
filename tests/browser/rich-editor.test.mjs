// The rich-text editor end to end: Debian's Chromium against the real quire binary. People format
// text together and see each other, edits made offline merge, the server's HTML export holds what
// was typed, and a Tiptap-style @hocuspocus/provider client in Node shares the document.
// Every wait is on an event or a DOM/editor state, never a fixed sleep.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { openAs, screenshot, useQuireAndBrowser, waitForBadge } from './harness.mjs'

/** Creates a rich-text document over the HTTP API, named `prefix` and a timestamp; returns the name. */
async function createRichDocument (server, prefix) {
  const id = `${prefix}-${Date.now()}`
  const response = await fetch(`${server.url}/api/docs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, kind: 'rich' })
  })
  assert.equal(response.status, 201, await response.clone().text())
  assert.equal((await response.json()).kind, 'rich')
  return id
}

/** The server's export of `id` in `format`, as text. */
async function exported (server, id, format) {
  const response = await fetch(`${server.url}/api/docs/${encodeURIComponent(id)}/snapshot?format=${format}`)
  assert.equal(response.status, 200, `${format}: ${await response.clone().text()}`)
  return await response.text()
}

/** Opens the rich document `id` as `name`, connected and with the rich editor ready. */
async function openRich (live, id, name, contextOptions) {
  const session = await openAs(live, `/d/${encodeURIComponent(id)}`, name, contextOptions)
  await session.page.locator('.rich-text[contenteditable="true"]').waitFor()
  await waitForBadge(session.page, 'connection-status', 'connected')
  return session
}

/** Puts the caret at the end of the document, ready to type. */
async function focusEnd (page) {
  await page.locator('.rich-text').click()
  await page.keyboard.press('Control+End')
}

/** Resolves once the editor holds `text` carrying the mark `mark`. */
async function waitForMarkedText (page, text, mark, timeout = 20000) {
  await page.waitForFunction(({ text, mark }) => {
    let found = false
    window.quire?.view?.state.doc.descendants((node) => {
      if (node.isText && node.text.includes(text) && node.marks.some((each) => each.type.name === mark)) found = true
    })
    return found
  }, { text, mark }, { timeout })
}

/** Resolves once the editor holds a heading of `level` whose text is `text`. */
async function waitForHeading (page, level, text, timeout = 20000) {
  await page.waitForFunction(({ level, text }) => {
    let found = false
    window.quire?.view?.state.doc.descendants((node) => {
      if (node.type.name === 'heading' && node.attrs.level === level && node.textContent === text) found = true
    })
    return found
  }, { level, text }, { timeout })
}

/** The editor's document as ProseMirror JSON. */
async function editorJson (page) {
  return await page.evaluate(() => window.quire.view.state.doc.toJSON())
}

/** Resolves once the Y.Doc `doc` satisfies `predicate` (checked after each update). */
function docSatisfies (doc, predicate) {
  return new Promise((resolve) => {
    if (predicate()) return resolve()
    const check = () => {
      if (!predicate()) return
      doc.off('update', check)
      resolve()
    }
    doc.on('update', check)
  })
}

describe('rich-text editor', () => {
  const live = useQuireAndBrowser()

  // The home page creates rich-text documents (button and open-by-name) and lists their kind.
  it('is created from the home page, and the list shows its kind', async () => {
    const { context, page } = await openAs(live, '/', 'Hana')
    await page.getByRole('button', { name: 'New rich-text document' }).click()
    await page.waitForURL(/\/d\/[0-9a-f-]{36}$/)
    const id = decodeURIComponent(new URL(page.url()).pathname.slice('/d/'.length))
    await page.locator('.rich-text[contenteditable="true"]').waitFor()
    await page.locator('#document-kind', { hasText: 'Rich text' }).waitFor()
    // The editor has focus: typing goes straight into the document.
    await page.keyboard.type('# Minutes')
    await waitForHeading(page, 1, 'Minutes')
    await waitForBadge(page, 'save-status', 'saved')

    // A name that does not exist yet, opened with the kind chosen.
    await page.goto(live.server.url + '/')
    await page.getByLabel('Document name').fill('team/rich notes')
    await page.getByLabel('Kind, if it is new').selectOption('rich')
    await page.getByLabel('Document name').press('Enter')
    await page.waitForURL(/\/d\/team\/rich%20notes$/)
    await page.locator('.rich-text[contenteditable="true"]').waitFor()

    await page.goto(live.server.url + '/')
    for (const name of [id, 'team/rich notes']) {
      const item = page.locator('.document-list li', { has: page.getByRole('link', { name, exact: true }) })
      await item.locator('.kind-badge', { hasText: 'Rich text' }).waitFor()
    }
    await screenshot(page, 'home-page-kinds')
    const listed = await (await fetch(`${live.server.url}/api/docs/${encodeURIComponent(id)}`)).json()
    assert.equal(listed.kind, 'rich')
    await context.close()
  })

  // Two people format one document at once; each sees the other's formatting, caret and name.
  it('shows each person the other\'s formatting and caret', async () => {
    const id = await createRichDocument(live.server, 'rich-shared')
    const alice = await openRich(live, id, 'Alice')
    const bob = await openRich(live, id, 'Bob', { viewport: { width: 390, height: 800 } })

    // Alice writes a line and makes it a heading from the toolbar.
    await focusEnd(alice.page)
    await alice.page.keyboard.type('Shared plan')
    await alice.page.getByRole('button', { name: 'Heading 1' }).click()
    assert.equal(await alice.page.getByRole('button', { name: 'Heading 1' }).getAttribute('aria-pressed'), 'true')
    await waitForHeading(bob.page, 1, 'Shared plan')

    // Bob adds a paragraph with a bold word, by shortcut.
    await focusEnd(bob.page)
    await bob.page.keyboard.press('Enter')
    await bob.page.keyboard.type('Bob says ')
    await bob.page.keyboard.press('Control+b')
    await bob.page.keyboard.type('yes')
    assert.equal(await bob.page.getByRole('button', { name: 'Bold' }).getAttribute('aria-pressed'), 'true')
    await waitForMarkedText(alice.page, 'yes', 'bold')

    // Each sees the other in "who is here" and the other's caret labelled with the name.
    await alice.page.locator('#presence-list .person-name', { hasText: 'Bob' }).waitFor()
    await bob.page.locator('#presence-list .person-name', { hasText: 'Alice' }).waitFor()
    await alice.page.locator('.rich-text .remote-caret .remote-caret-name', { hasText: 'Bob' }).waitFor()
    await bob.page.locator('.rich-text .remote-caret .remote-caret-name', { hasText: 'Alice' }).waitFor()

    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'save-status', 'saved')))
    assert.deepEqual(await editorJson(alice.page), await editorJson(bob.page))
    await screenshot(alice.page, 'rich-two-editors-alice')
    await screenshot(bob.page, 'rich-two-editors-bob-narrow')
    for (const session of [alice, bob]) await session.context.close()
  })

  // Formatting done while one side is disconnected merges with the other's once it reconnects.
  it('merges formatting made offline after reconnecting', async () => {
    const id = await createRichDocument(live.server, 'rich-offline')
    const alice = await openRich(live, id, 'Alice')
    const bob = await openRich(live, id, 'Bob')
    await focusEnd(alice.page)
    await alice.page.keyboard.type('Base line.')
    await bob.page.waitForFunction(() => window.quire.view.state.doc.textContent === 'Base line.')

    // Alice loses her connection (Playwright's setOffline leaves open WebSockets alone, so the
    // provider is disconnected); both keep formatting and writing.
    await alice.page.evaluate(() => { window.quire.provider.disconnect() })
    await waitForBadge(alice.page, 'connection-status', 'reconnecting')
    await focusEnd(alice.page)
    await alice.page.keyboard.press('Enter')
    await alice.page.keyboard.type('## Alice offline')
    await focusEnd(bob.page)
    await bob.page.keyboard.press('Enter')
    await bob.page.keyboard.type('Bob online **bold**')
    await waitForHeading(alice.page, 2, 'Alice offline')
    await waitForMarkedText(bob.page, 'bold', 'bold')
    await waitForBadge(alice.page, 'save-status', 'unsaved')
    await waitForBadge(bob.page, 'save-status', 'saved')
    // Bob's edit cannot reach Alice while she is away.
    assert.equal(await alice.page.evaluate(() => window.quire.view.state.doc.textContent.includes('Bob online')), false)

    await alice.page.evaluate(() => { window.quire.provider.connect() })
    for (const { page } of [alice, bob]) {
      await waitForHeading(page, 2, 'Alice offline')
      await waitForMarkedText(page, 'bold', 'bold')
      await waitForBadge(page, 'save-status', 'saved')
    }
    assert.deepEqual(await editorJson(alice.page), await editorJson(bob.page))
    for (const session of [alice, bob]) await session.context.close()
  })

  // What is typed with the keyboard and the toolbar comes out of the server's HTML and Markdown export and the downloads.
  it('exports what was typed as HTML and Markdown', async () => {
    const id = await createRichDocument(live.server, 'rich-export')
    const { context, page } = await openRich(live, id, 'Dana')
    await focusEnd(page)
    await page.keyboard.type('Report')
    await page.keyboard.press('Control+Alt+1')
    await page.keyboard.press('End')
    await page.keyboard.press('Enter')
    await page.keyboard.type('Results are ')
    await page.getByRole('button', { name: 'Bold' }).click()
    await page.keyboard.type('good')
    await page.keyboard.press('Control+b')
    await page.keyboard.type('.')
    await waitForHeading(page, 1, 'Report')
    await waitForMarkedText(page, 'good', 'bold')
    await waitForBadge(page, 'save-status', 'saved')

    const html = await exported(live.server, id, 'html')
    assert.match(html, /<h1>Report<\/h1>/)
    assert.match(html, /<p>Results are <strong>good<\/strong>\.<\/p>/)
    const markdown = await exported(live.server, id, 'markdown')
    assert.match(markdown, /^# Report$/m)
    assert.match(markdown, /^Results are \*\*good\*\*\.$/m)

    // The download buttons offer the rich formats and save the same export.
    const downloaded = page.waitForEvent('download')
    await page.getByRole('button', { name: 'Download as HTML' }).click()
    const file = await downloaded
    assert.equal(file.suggestedFilename(), `${id}.html`)
    let saved = ''
    for await (const chunk of await file.createReadStream()) saved += chunk
    assert.equal(saved, html)
    assert.equal(await page.getByRole('button', { name: 'Download as Text' }).count(), 0)
    await screenshot(page, 'rich-export')
    await context.close()
  })

  // The link button asks for an address, refuses a javascript: one, and links the selection to a web one.
  it('links the selection only to web and mail addresses', async () => {
    const id = await createRichDocument(live.server, 'rich-link')
    const { context, page } = await openRich(live, id, 'Finn')
    await focusEnd(page)
    await page.keyboard.type('read the docs')
    await page.keyboard.press('Shift+Control+ArrowLeft')
    const linkButton = page.getByRole('button', { name: 'Link' })

    page.once('dialog', (dialog) => { void dialog.accept('javascript:alert(1)') })
    await linkButton.click()
    await page.locator('.toolbar-message', { hasText: 'Only http, https and mailto links are allowed.' }).waitFor()
    assert.equal(await page.locator('.rich-text a').count(), 0)

    page.once('dialog', (dialog) => { void dialog.accept('example.com/docs') })
    await linkButton.click()
    await page.locator('.rich-text a[href="https://example.com/docs"]', { hasText: 'docs' }).waitFor()
    assert.equal(await linkButton.getAttribute('aria-pressed'), 'true')
    await waitForBadge(page, 'save-status', 'saved')
    const html = await exported(live.server, id, 'html')
    assert.match(html, /read the <a href="https:\/\/example\.com\/docs"[^>]*>docs<\/a>/)
    await context.close()
  })

  // The versions panel saves and restores a rich document, and deleting it closes the page's connection.
  it('restores a saved version and notices when the document is deleted', async () => {
    const id = await createRichDocument(live.server, 'rich-versions')
    const { context, page } = await openRich(live, id, 'Gus')
    await focusEnd(page)
    await page.keyboard.type('## First draft')
    await waitForHeading(page, 2, 'First draft')
    await waitForBadge(page, 'save-status', 'saved')
    await page.getByLabel('Version label').fill('draft one')
    await page.getByRole('button', { name: 'Save version' }).click()
    await page.locator('.version-list li', { hasText: 'draft one' }).waitFor()

    await focusEnd(page)
    await page.keyboard.press('Enter')
    await page.keyboard.type('Second thoughts')
    await page.waitForFunction(() => window.quire.view.state.doc.textContent === 'First draftSecond thoughts')
    page.once('dialog', (dialog) => { void dialog.accept() })
    await page.getByRole('button', { name: 'Restore draft one' }).click()
    await page.waitForFunction(() => window.quire.view.state.doc.textContent === 'First draft')
    await waitForHeading(page, 2, 'First draft')
    await waitForBadge(page, 'save-status', 'saved')

    const deleted = await fetch(`${live.server.url}/api/docs/${encodeURIComponent(id)}`, { method: 'DELETE' })
    assert.equal(deleted.status, 204, await deleted.clone().text())
    await page.locator('#connection-status[data-state="closed"]', { hasText: 'this document was deleted' }).waitFor()
    await context.close()
  })

  // A Tiptap-style client (@hocuspocus/provider on /hocuspocus, XmlFragment `default`) and the browser edit one document.
  it('shares the document with a Tiptap-style Hocuspocus client', async () => {
    const id = await createRichDocument(live.server, 'rich-tiptap')
    const socket = new HocuspocusProviderWebsocket({ url: live.server.url.replace(/^http/, 'ws') + '/hocuspocus', WebSocketPolyfill: WebSocket })
    const doc = new Y.Doc()
    const provider = new HocuspocusProvider({ websocketProvider: socket, name: id, document: doc })
    provider.attach()
    try {
      await new Promise((resolve) => {
        if (provider.isSynced) return resolve()
        const onSynced = () => { provider.off('synced', onSynced); resolve() }
        provider.on('synced', onSynced)
      })
      // Tiptap's CollaborationCursor puts the user here; the page lists it.
      provider.awareness.setLocalStateField('user', { name: 'Tiptap', color: '#2e7d32' })
      const fragment = doc.getXmlFragment('default')
      // What Tiptap writes for <h2>From Tiptap</h2><p>with <strong>bold</strong></p>.
      const heading = new Y.XmlElement('heading')
      heading.setAttribute('level', 2)
      heading.insert(0, [new Y.XmlText('From Tiptap')])
      const paragraph = new Y.XmlElement('paragraph')
      const text = new Y.XmlText()
      text.insert(0, 'with ')
      text.insert(5, 'bold', { bold: {} })
      paragraph.insert(0, [text])
      fragment.insert(0, [heading, paragraph])

      const { context, page } = await openRich(live, id, 'Erin')
      await waitForHeading(page, 2, 'From Tiptap')
      await waitForMarkedText(page, 'bold', 'bold')
      await page.locator('#presence-list .person-name', { hasText: 'Tiptap' }).waitFor()

      // The browser adds an italic line; the Node client gets it as Tiptap's `italic` mark.
      await focusEnd(page)
      await page.keyboard.press('Enter')
      await page.keyboard.press('Control+i')
      await page.keyboard.type('from the browser')
      await docSatisfies(doc, () => fragment.toString().includes('<italic>from the browser</italic>'))
      await waitForBadge(page, 'save-status', 'saved')

      // Both hold the same fragment.
      const browserFragment = await page.evaluate(() => window.quire.doc.getXmlFragment('default').toString())
      assert.equal(browserFragment, fragment.toString())
      assert.match(fragment.toString(), /^<heading level="2">From Tiptap<\/heading><paragraph>with <bold>bold<\/bold><\/paragraph><paragraph><italic>from the browser<\/italic><\/paragraph>$/)
      await context.close()
    } finally {
      provider.destroy()
      socket.destroy()
      doc.destroy()
    }
  })
})
