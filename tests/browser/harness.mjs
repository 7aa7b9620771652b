// Shared setup for the browser tests: the real `quire` binary on a loopback port, Debian's
// Chromium driven by playwright-core, and a place for screenshots.
//
// The binary is built by the test script (web editor first, so it serves it); QUIRE_BIN
// overrides its path. Chromium comes from Debian (`apt-get install chromium`), never from a
// Playwright download; CHROMIUM_PATH overrides /usr/bin/chromium.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before } from 'node:test'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const repositoryRoot = join(here, '..', '..')
export const quireBin = process.env.QUIRE_BIN ?? join(repositoryRoot, 'target', 'debug', 'quire')
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const artifactsDir = join(repositoryRoot, 'test-artifacts', 'browser')

/**
 * Runs `quire serve` on `addr` (a free port by default) over `dataDir` (a fresh temporary one by
 * default) and resolves once it logs `listening on http://…`, so no test guesses a port or
 * sleeps.
 */
export async function startQuire ({ addr = '127.0.0.1:0', dataDir } = {}) {
  dataDir ??= mkdtempSync(join(tmpdir(), 'quire-browser-'))
  const child = spawn(quireBin, ['serve', '--addr', addr, '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' }
  })
  let log = ''
  const url = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log += chunk.toString()
      const match = log.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)
      if (match) resolve(match[1])
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`quire exited with ${code} before listening:\n${log}`)))
    child.once('error', reject)
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return {
    url,
    addr: new URL(url).host,
    dataDir,
    log: () => log,
    /** SIGTERM, then waits for the process to end (it closes WebSockets with 1001 first). */
    async stop () {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return await exited
    }
  }
}

/** Removes a data directory made by startQuire. */
export function removeDataDir (dataDir) {
  rmSync(dataDir, { recursive: true, force: true })
}

/**
 * For a describe block: quire and Chromium start before its tests and stop after them (the data
 * directory removed). Tests read `live.server` and `live.browser`; a test that restarts the
 * server stores the new one in `live.server`, so that is the one stopped.
 */
export function useQuireAndBrowser () {
  const live = { server: null, browser: null }
  before(async () => {
    live.server = await startQuire()
    live.browser = await launchBrowser()
  })
  after(async () => {
    await live.browser?.close()
    await live.server?.stop()
    if (live.server) removeDataDir(live.server.dataDir)
  })
  return live
}

/** Headless Chromium with the flags a container without a user session needs. */
export async function launchBrowser () {
  return await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run'
    ]
  })
}

/** Saves a full-page screenshot under test-artifacts/browser/ and returns its path. */
export async function screenshot (page, name) {
  mkdirSync(artifactsDir, { recursive: true })
  const path = join(artifactsDir, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** Sends page errors and console errors to the test output, where failures are read. */
export function reportPageErrors (page, label) {
  page.on('pageerror', (error) => console.error(`[${label}] page error: ${error.message}`))
  page.on('console', (message) => {
    // A 404 from an API probe and refused sockets while the server restarts are expected.
    const expected = /Failed to load resource|ERR_CONNECTION_REFUSED/.test(message.text())
    if (message.type() === 'error' && !expected) console.error(`[${label}] console: ${message.text()}`)
  })
}

/** Opens `path` in a new browser context where the user's name is already `name`. */
export async function openAs ({ browser, server }, path, name, contextOptions = {}) {
  const context = await browser.newContext(contextOptions)
  await context.addInitScript((userName) => { localStorage.setItem('quire.userName', userName) }, name)
  const page = await context.newPage()
  reportPageErrors(page, name)
  await page.goto(server.url + path)
  return { context, page }
}

/** The text the editor shows (CodeMirror's state, without remote-caret labels). */
export async function editorText (page) {
  return await page.evaluate(() => window.quire.view.state.doc.toString())
}

/** Resolves once the editor text holds every string of `parts`. */
export async function waitForEditorText (page, parts, timeout = 20000) {
  await page.waitForFunction(
    (expected) => expected.every((part) => window.quire?.view.state.doc.toString().includes(part)),
    parts,
    { timeout }
  )
}

/** Resolves once the badge `#id` shows `state` (data-state attribute). */
export async function waitForBadge (page, id, state, timeout = 20000) {
  await page.locator(`#${id}[data-state="${state}"]`).waitFor({ timeout })
}
