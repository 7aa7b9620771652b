// Compression in the browser: Chromium offers permessage-deflate on every WebSocket, and with
// Quire agreeing, a large document crosses compressed both ways between the web editor and a
// Node Hocuspocus client (whose `ws` offers it too), and both end with the same text.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { reportPageErrors, useQuireAndBrowser, waitForBadge } from './harness.mjs'

/** About 600 KB of text, which deflate shrinks many times over. */
const largeText = Array.from({ length: 40000 }, (_, line) => `paragraph ${String(line).padStart(6, '0')}\n`).join('')

/** The value of a metric series (name with labels, as rendered), or 0 when absent. */
async function metric (server, series) {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line ? Number(line.slice(series.length + 1)) : 0
}

/** Resolves once `predicate()` holds, re-checking whenever `doc` changes. */
function docSatisfies (doc, predicate) {
  if (predicate()) return Promise.resolve()
  return new Promise((resolve) => {
    const handler = () => { if (predicate()) { doc.off('update', handler); resolve() } }
    doc.on('update', handler)
  })
}

describe('compression', () => {
  const live = useQuireAndBrowser()

  // Chromium and a Node client converge on a 600 KB document, each way compressed.
  it('carries a large document compressed between Chromium and a Node client', async () => {
    const room = `deflate-${Date.now()}`
    const socket = new HocuspocusProviderWebsocket({ url: live.server.url.replace(/^http/, 'ws') + '/hocuspocus', WebSocketPolyfill: WebSocket })
    const doc = new Y.Doc()
    const provider = new HocuspocusProvider({ websocketProvider: socket, name: room, document: doc })
    provider.attach()
    const text = doc.getText('text')
    const context = await live.browser.newContext()
    try {
      await new Promise((resolve) => {
        if (provider.isSynced) return resolve()
        const onSynced = () => { provider.off('synced', onSynced); resolve() }
        provider.on('synced', onSynced)
      })
      text.insert(0, largeText)

      // Every socket the page opens is kept, to read what it agreed with the server.
      await context.addInitScript(() => {
        localStorage.setItem('quire.userName', 'Reader')
        const Native = window.WebSocket
        window.quireSockets = []
        window.WebSocket = class extends Native {
          constructor (...args) { super(...args); window.quireSockets.push(this) }
        }
      })
      const page = await context.newPage()
      reportPageErrors(page, 'Reader')
      await page.goto(`${live.server.url}/d/${room}`)
      await page.waitForFunction((length) => window.quire?.view.state.doc.length === length, largeText.length, { timeout: 60000 })
      assert.ok(await page.evaluate((expected) => window.quire.view.state.doc.toString() === expected, largeText), 'the page holds the whole document')
      const extensions = await page.evaluate(() => window.quireSockets.filter((s) => s.readyState === 1).map((s) => s.extensions))
      assert.ok(extensions.some((agreed) => /permessage-deflate/.test(agreed)), `the page agreed to compression: ${JSON.stringify(extensions)}`)
      assert.match(socket.webSocket.extensions, /permessage-deflate/)

      // The browser pastes a large block; Chromium sends it compressed, and the Node client gets it.
      const received = await metric(live.server, 'quire_websocket_compressed_messages_total{direction="received"}')
      const block = Array.from({ length: 2000 }, (_, line) => `pasted ${line}\n`).join('')
      await page.locator('.cm-content').click()
      await page.keyboard.press('Control+Home')
      await page.keyboard.insertText(block)
      await docSatisfies(doc, () => text.length === largeText.length + block.length)
      assert.ok(text.toString().startsWith(block), 'the pasted block arrived whole, in place')
      await waitForBadge(page, 'save-status', 'saved')
      assert.ok(await metric(live.server, 'quire_websocket_compressed_messages_total{direction="received"}') > received,
        'the server inflated a message from Chromium')
      assert.equal(await page.evaluate(() => window.quire.view.state.doc.toString()), text.toString())
    } finally {
      await context.close()
      provider.destroy()
      socket.destroy()
      doc.destroy()
    }
  })
})
