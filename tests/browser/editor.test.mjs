// The web editor end to end: Debian's Chromium against the real quire binary. Two people edit
// one document at once, see each other, reload, and ride out a server restart with offline edits.
// Every wait is on an event or a DOM state (waitForFunction, locator waits), never a fixed sleep.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  editorText, openAs, screenshot, startQuire, useQuireAndBrowser, waitForBadge, waitForEditorText
} from './harness.mjs'

async function readAll (stream) {
  const chunks = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Puts the caret at the end of the text, ready to type. */
async function focusEnd (page) {
  await page.locator('.cm-content').click()
  await page.keyboard.press('Control+End')
}

describe('web editor', () => {
  const live = useQuireAndBrowser()

  it('is served by the binary with fitting types and caching', async () => {
    const home = await fetch(live.server.url + '/')
    assert.equal(home.status, 200)
    assert.match(home.headers.get('content-type'), /^text\/html/)
    assert.equal(home.headers.get('cache-control'), 'no-cache')
    const html = await home.text()
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)
    assert.ok(script, `index.html links a hashed script (is client-web built?):\n${html}`)
    const asset = await fetch(live.server.url + script[1])
    assert.equal(asset.status, 200)
    assert.match(asset.headers.get('content-type'), /javascript/)
    assert.match(asset.headers.get('cache-control'), /immutable/)
    const spa = await fetch(live.server.url + '/d/team/some%20notes')
    assert.equal(spa.status, 200)
    assert.equal(await spa.text(), html)
    const missing = await fetch(live.server.url + '/assets/nope.js')
    assert.equal(missing.status, 404)
    assert.equal((await missing.json()).code, 'not_found')
  })

  it('starts a new document from the home page with the keyboard alone', async () => {
    const { context, page } = await openAs(live, '/', 'Keyboard')
    await page.getByRole('button', { name: 'New text document' }).waitFor()
    // Tab from the top of the page until the button has focus, then press Enter.
    for (let step = 0; step < 10; step++) {
      await page.keyboard.press('Tab')
      if (await page.evaluate(() => document.activeElement?.textContent === 'New text document')) break
    }
    await page.keyboard.press('Enter')
    await page.waitForURL(/\/d\/[0-9a-f-]{36}$/)
    await waitForBadge(page, 'connection-status', 'connected')
    // The editor has focus: typing goes straight into the document.
    await page.keyboard.type('typed without a mouse')
    await waitForEditorText(page, ['typed without a mouse'])
    await waitForBadge(page, 'save-status', 'saved')

    // Opening by name, with a slash and a space in it.
    await page.goto(live.server.url + '/')
    // The list shows the document just written (or says the server has no list).
    await page.locator('.document-list li, .list-status:not(:empty)').first().waitFor()
    await page.locator('.list-status:text-is("Loading the document list…")').waitFor({ state: 'detached' })
    await screenshot(page, 'home-page')
    await page.getByLabel('Document name').fill('team/weekly notes')
    await page.getByLabel('Document name').press('Enter')
    await page.waitForURL(/\/d\/team\/weekly%20notes$/)
    await waitForBadge(page, 'connection-status', 'connected')
    await context.close()
  })

  it('lets two people type at once and see each other', async () => {
    const room = `shared-${Date.now()}`
    const alice = await openAs(live, `/d/${room}`, 'Alice')
    const bob = await openAs(live, `/d/${room}`, 'Bob', { viewport: { width: 390, height: 800 } })
    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'connection-status', 'connected')))
    await Promise.all([alice, bob].map(({ page }) => focusEnd(page)))

    // Both type at the same time.
    await Promise.all([
      alice.page.keyboard.type('Alice writes the first line. '),
      bob.page.keyboard.type('Bob adds his part. ')
    ])
    for (const { page } of [alice, bob]) {
      await waitForEditorText(page, ['Alice writes the first line. ', 'Bob adds his part. '])
    }
    await alice.page.waitForFunction(() => window.quire.view.state.doc.length === 48)
    await bob.page.waitForFunction(() => window.quire.view.state.doc.length === 48)
    assert.equal(await editorText(alice.page), await editorText(bob.page))

    // Presence: the other's name in "who is here", and their caret labelled with it.
    await alice.page.locator('#presence-list .person-name', { hasText: 'Bob' }).waitFor()
    await bob.page.locator('#presence-list .person-name', { hasText: 'Alice' }).waitFor()
    await alice.page.locator('.cm-ySelectionCaret .cm-ySelectionInfo', { hasText: 'Bob' }).waitFor()
    await bob.page.locator('.cm-ySelectionCaret .cm-ySelectionInfo', { hasText: 'Alice' }).waitFor()

    // Renaming shows up on the other side.
    await bob.page.getByLabel('Your name').fill('Robert')
    await bob.page.getByLabel('Your name').press('Enter')
    await alice.page.locator('#presence-list .person-name', { hasText: 'Robert' }).waitFor()

    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'save-status', 'saved')))
    await screenshot(alice.page, 'two-editors-alice')
    await screenshot(bob.page, 'two-editors-bob-narrow')

    // A reload keeps the content...
    const before = await editorText(alice.page)
    await alice.page.reload()
    await waitForBadge(alice.page, 'connection-status', 'connected')
    await waitForEditorText(alice.page, [before])
    // ...and it is on the server, not only in this browser's IndexedDB: a fresh context (empty
    // storage) and the HTTP export both have it.
    const fresh = await openAs(live, `/d/${room}`, 'Carol')
    await waitForBadge(fresh.page, 'save-status', 'saved')
    assert.equal(await editorText(fresh.page), before)
    const exported = await fetch(`${live.server.url}/api/docs/${encodeURIComponent(room)}/snapshot?format=text&name=text`)
    if (exported.status !== 404 || (await exported.clone().json()).code !== 'not_found') {
      assert.equal(exported.status, 200)
      assert.equal(await exported.text(), before)
    }
    for (const session of [alice, bob, fresh]) await session.context.close()
  })

  it('downloads the document and keeps versions, where the server offers them', async () => {
    const room = `exports-${Date.now()}`
    const { context, page } = await openAs(live, `/d/${room}`, 'Dana')
    await waitForBadge(page, 'connection-status', 'connected')
    await focusEnd(page)
    await page.keyboard.type('First draft.')
    await waitForBadge(page, 'save-status', 'saved')

    // A click ends in a download, or in a message when the server lacks the route.
    const message = page.locator('#downloads-heading ~ .panel-message')
    const download = async (label) => {
      const downloaded = page.waitForEvent('download').then((file) => file)
      const refused = message.filter({ hasText: /not available|failed/ }).waitFor().then(() => null)
      downloaded.catch(() => {})
      refused.catch(() => {})
      await page.getByRole('button', { name: `Download as ${label}` }).click()
      return await Promise.race([downloaded, refused])
    }
    const textFile = await download('Text')
    if (textFile === null) {
      assert.match(await message.textContent(), /not available on this server/)
      console.log('# the server has no snapshot route: downloads are hidden, as intended')
    } else {
      let text = ''
      for await (const chunk of await textFile.createReadStream()) text += chunk
      assert.deepEqual({ name: textFile.suggestedFilename(), text }, { name: `${room}.txt`, text: 'First draft.' })
      assert.equal((await download('JSON')).suggestedFilename(), `${room}.json`)
      const updateFile = await download('Yjs update')
      assert.equal(updateFile.suggestedFilename(), `${room}.yjs`)
      assert.ok((await readAll(await updateFile.createReadStream())).length > 0)
    }

    // Versions: save one, change the text, restore it.
    const versionsMessage = page.locator('#versions-heading ~ .panel-message')
    await page.waitForFunction(() => !/Loading versions/.test(document.querySelector('#versions-heading ~ .panel-message')?.textContent ?? ''))
    if (/not available/.test(await versionsMessage.textContent())) {
      console.log('# the server has no versions routes: the panel says so, as intended')
      await screenshot(page, 'versions-unavailable')
    } else {
      await page.getByLabel('Version label').fill('draft one')
      await page.getByRole('button', { name: 'Save version' }).click()
      await page.locator('.version-list li', { hasText: 'draft one' }).waitFor()
      await focusEnd(page)
      await page.keyboard.type(' Second thoughts.')
      await waitForEditorText(page, ['First draft. Second thoughts.'])
      page.once('dialog', (dialog) => { void dialog.accept() })
      await page.getByRole('button', { name: 'Restore draft one' }).click()
      await page.waitForFunction(() => window.quire.view.state.doc.toString() === 'First draft.')
      await waitForBadge(page, 'save-status', 'saved')
      await screenshot(page, 'versions-restored')
    }
    await context.close()
  })

  it('reconnects by itself after a server restart and merges edits made meanwhile', async () => {
    const room = `restart-${Date.now()}`
    const alice = await openAs(live, `/d/${room}`, 'Alice')
    const bob = await openAs(live, `/d/${room}`, 'Bob')
    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'connection-status', 'connected')))
    await focusEnd(alice.page)
    await alice.page.keyboard.type('Before the restart.')
    await waitForEditorText(bob.page, ['Before the restart.'])
    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'save-status', 'saved')))

    // SIGTERM: the server closes every WebSocket and exits.
    const { addr, dataDir } = live.server
    const stopped = await live.server.stop()
    assert.equal(stopped.code, 0, live.server.log())
    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'connection-status', 'reconnecting')))

    // Both keep editing while the server is down.
    await focusEnd(alice.page)
    await alice.page.keyboard.type(' Alice offline.')
    await focusEnd(bob.page)
    await bob.page.keyboard.type(' Bob offline.')
    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'save-status', 'unsaved')))
    await screenshot(alice.page, 'server-down-alice')

    // Same port, same data: the pages find it again by themselves.
    live.server = await startQuire({ addr, dataDir })
    await Promise.all([alice, bob].map(({ page }) => waitForBadge(page, 'connection-status', 'connected', 30000)))
    for (const { page } of [alice, bob]) {
      await waitForEditorText(page, ['Before the restart.', ' Alice offline.', ' Bob offline.'])
      await waitForBadge(page, 'save-status', 'saved')
    }
    assert.equal(await editorText(alice.page), await editorText(bob.page))
    await screenshot(bob.page, 'after-restart-bob')
    for (const session of [alice, bob]) await session.context.close()
  })
})
