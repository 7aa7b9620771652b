// `quire sync`, `quire put` and `quire cat`: the real binary as a client, against the real server
// and the stock npm y-websocket client.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startQuire, connectProvider, synced, docSatisfies, quireBin } from './harness.mjs'

const run = promisify(execFile)
const WAIT_LIMIT_MS = 10000

let server
let directory
before(async () => {
  server = await startQuire()
  directory = mkdtempSync(join(tmpdir(), 'quire-sync-cli-'))
})
after(async () => {
  rmSync(directory, { recursive: true, force: true })
  const { code } = await server.stop()
  assert.equal(code, 0, 'quire exits 0 on SIGTERM')
})

/** Starts `quire sync FILE` for `doc`; stop() sends SIGTERM and resolves with the exit. */
function startSync (file, doc) {
  const child = spawn(quireBin, ['sync', file, '--server', server.url, '--doc', doc], {
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let log = ''
  child.stderr.on('data', (chunk) => { log += chunk.toString() })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return {
    log: () => log,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    }
  }
}

/** Re-reads `file` until it holds `expected` (files have no events to await here). */
async function fileHolds (file, expected, sync) {
  const deadline = Date.now() + WAIT_LIMIT_MS
  for (;;) {
    let content
    try { content = readFileSync(file, 'utf8') } catch { content = undefined }
    if (content === expected) return
    if (Date.now() > deadline) {
      assert.fail(`${file} reads ${JSON.stringify(content)}, not ${JSON.stringify(expected)}\n${sync?.log() ?? ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Resolves once `predicate()` holds for the doc, failing after the wait limit. */
async function docHolds (client, predicate, what) {
  let timer
  const limit = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`waited for ${what}; text is ${JSON.stringify(client.text.toString())}`)), WAIT_LIMIT_MS)
  })
  try {
    await Promise.race([docSatisfies(client.doc, predicate), limit])
  } finally {
    clearTimeout(timer)
  }
}

/** Edits saved to the file appear at a y-websocket client, and the client's edits in the file. */
test('quire sync mirrors a file and a y-websocket client both ways', async () => {
  const file = join(directory, 'both-ways.md')
  writeFileSync(file, 'from the file\n')
  const sync = startSync(file, 'both-ways')
  const client = connectProvider(server, 'both-ways')
  await synced(client.provider)
  await docHolds(client, () => client.text.toString() === 'from the file\n', 'the initial file')

  writeFileSync(file, 'from the file, edited\n')
  await docHolds(client, () => client.text.toString() === 'from the file, edited\n', 'the file edit')

  client.text.insert(0, '# Title\n')
  await fileHolds(file, '# Title\nfrom the file, edited\n', sync)

  const { code } = await sync.stop()
  assert.equal(code, 0, `quire sync exits 0 on SIGTERM\n${sync.log()}`)
  client.close()
})

/** A client's offline edits and file edits made meanwhile both survive, in the file and at the client. */
test('concurrent edits on both sides all survive', async () => {
  const file = join(directory, 'concurrent.md')
  writeFileSync(file, 'one\ntwo\nthree\n')
  const sync = startSync(file, 'concurrent')
  const client = connectProvider(server, 'concurrent')
  await synced(client.provider)
  await docHolds(client, () => client.text.toString() === 'one\ntwo\nthree\n', 'the initial file')

  // The client edits without seeing the file's edit, and the file's edit is made without the
  // client's: the client is disconnected until the server has the file's edit.
  client.provider.disconnect()
  client.text.insert(client.text.toString().indexOf('three'), 'THREE ')
  writeFileSync(file, 'one ONE\ntwo\nthree\n')
  const watcher = connectProvider(server, 'concurrent')
  await synced(watcher.provider)
  await docHolds(watcher, () => watcher.text.toString() === 'one ONE\ntwo\nthree\n', 'the file edit at the server')
  client.provider.connect()

  const merged = 'one ONE\ntwo\nTHREE three\n'
  await docHolds(client, () => client.text.toString() === merged, 'both edits at the client')
  await fileHolds(file, merged, sync)
  await docHolds(watcher, () => watcher.text.toString() === merged, 'both edits at the server')

  const { code } = await sync.stop()
  assert.equal(code, 0, `quire sync exits 0 on SIGTERM\n${sync.log()}`)
  client.close()
  watcher.close()
})

/** quire put stores a file's text and quire cat prints it back unchanged; a client sees later puts live. */
test('quire put then quire cat round-trips a file', async () => {
  const file = join(directory, 'put.txt')
  const content = 'héllo 🌍\nsecond line\n'
  writeFileSync(file, content)
  await run(quireBin, ['put', server.url, 'round-trip', file])
  const { stdout } = await run(quireBin, ['cat', server.url, 'round-trip'])
  assert.equal(stdout, content)

  // A second put changes the text live: a connected client sees exactly the new content.
  const client = connectProvider(server, 'round-trip')
  await synced(client.provider)
  assert.equal(client.text.toString(), content)
  const changed = 'héllo 🌍\nsecond line, changed\n'
  writeFileSync(file, changed)
  await run(quireBin, ['put', server.url, 'round-trip', file])
  await docHolds(client, () => client.text.toString() === changed, 'the second put')
  const { stdout: after } = await run(quireBin, ['cat', server.url, 'round-trip'])
  assert.equal(after, changed)
  client.close()
})
