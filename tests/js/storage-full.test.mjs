// A full disk, on a real (tmpfs) filesystem: edits are refused with 4503 and come back once space
// does, reads go on, operators see it, nothing a client was shown is lost (issue #18).
//
// Mounting needs root (CI runs as root); elsewhere the tests skip, saying why.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { startQuire, connectProvider, synced, docSatisfies, within, until, readiness, connectHocuspocus } from './harness.mjs'

const MiB = 1024 * 1024
const STORAGE_UNAVAILABLE = 4503

/** A fresh tmpfs of `size` bytes, unmounted after the test; null (and the test skipped) if none. */
function mountTmpfs (t, size) {
  if (process.getuid?.() !== 0) {
    t.skip('mounting a tmpfs needs root')
    return null
  }
  const mountPoint = mkdtempSync(join(tmpdir(), 'quire-tmpfs-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint], { stdio: 'pipe' })
  } catch (error) {
    rmSync(mountPoint, { recursive: true, force: true })
    t.skip(`cannot mount a tmpfs here: ${error.stderr?.toString().trim() || error.message}`)
    return null
  }
  t.after(() => {
    execFileSync('umount', ['-l', mountPoint])
    rmSync(mountPoint, { recursive: true, force: true })
  })
  return mountPoint
}

/** The document as the HTTP API exports it (a v1 update), applied to a fresh Y.Doc. */
async function exported (server, room) {
  const response = await fetch(`${server.url}/api/docs/${room}/snapshot`)
  assert.equal(response.status, 200, 'the snapshot is served during the outage')
  const doc = new Y.Doc()
  Y.applyUpdate(doc, new Uint8Array(await response.arrayBuffer()))
  return doc.getText('text').toString()
}

/** Appends 100 KB chunks until the writer is closed with 4503; the text the reader was shown. */
async function fillUntilRefused (writer, reader) {
  let refused = false
  writer.provider.on('connection-close', (event) => { if (event?.code === STORAGE_UNAVAILABLE) refused = true })
  const refusal = new Promise((resolve) => writer.provider.on('connection-close', (event) => {
    if (event?.code === STORAGE_UNAVAILABLE) resolve()
  }))
  for (let chunk = 0; !refused; chunk++) {
    assert.ok(chunk < 1000, 'the disk filled')
    writer.text.insert(writer.text.length, `${chunk}`.padEnd(100_000, '.'))
    const expected = writer.text.toString()
    await within(Promise.race([docSatisfies(reader.doc, () => reader.text.toString() === expected), refusal]),
      20000, `chunk ${chunk} to reach the reader or be refused`)
  }
  return reader.text.toString()
}

/** What proves issue #18's promises, end to end, on a 32 MiB filesystem that fills. */
test('a full disk refuses edits with 4503, keeps reads, and recovers without a restart', async (t) => {
  const mountPoint = mountTmpfs(t, 32 * MiB)
  if (mountPoint === null) return
  const dataDir = join(mountPoint, 'data')
  // The writer appends as fast as the disk takes it: the byte rate limit is not under test.
  // The reserve must also cover what sled writes on its own, outside any batch the server
  // admits (rewriting pages that hold the recent 100 KB values, cleaning segments): with 8 MiB
  // of 32 a clean-clone CI run twice met a full disk instead of the reserve (see the closing
  // note of 2026-12-07), so it is 12 MiB here, as docs/operations.md advises sizing it.
  const flags = ['--storage-reserve-bytes', String(12 * MiB), '--max-bytes-per-second', String(1024 * MiB)]
  let server = await startQuire(flags, { dataDir })
  t.after(() => server.stop())
  const writer = connectProvider(server, 'filling')
  const reader = connectProvider(server, 'filling')
  const elsewhere = connectProvider(server, 'elsewhere')
  const tiptap = connectHocuspocus(server, 'elsewhere')
  t.after(() => [writer, reader, elsewhere, tiptap].forEach((client) => client.close()))
  elsewhere.text.insert(0, 'written before the disk filled')
  await within(Promise.all([...[writer, reader, elsewhere].map(({ provider }) => synced(provider)), tiptap.synced]),
    10000, 'sync')
  await within(docSatisfies(tiptap.doc, () => tiptap.text.toString() === 'written before the disk filled'), 10000,
    'the Hocuspocus client to see the first edit')

  const shown = await fillUntilRefused(writer, reader)
  assert.ok(shown.length >= 100_000, 'some chunks were stored before the disk filled')

  // Operators see it.
  const ready = await readiness(server)
  assert.equal(ready.status, 503)
  assert.equal(JSON.parse(ready.body).code, 'storage_unavailable')
  assert.match(JSON.parse(ready.body).error, /low on space/)
  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  assert.match(metrics, /quire_storage_errors_total\{kind="no_space"\} [1-9]/)
  assert.match(server.log(), /storage stopped taking writes/)
  assert.ok(server.log().includes(dataDir), 'the log line names the data directory')

  // Reads go on: a joiner syncs what is stored, the snapshot is exported, another room works.
  const joiner = connectProvider(server, 'filling')
  t.after(() => joiner.close())
  await within(synced(joiner.provider), 10000, 'a joiner to sync during the outage').catch((e) => { console.log(server.log()); throw e })
  assert.equal(joiner.text.toString(), shown)
  assert.equal(await exported(server, 'filling'), shown)
  const bystander = connectProvider(server, 'elsewhere')
  t.after(() => bystander.close())
  await within(synced(bystander.provider), 10000, 'a joiner of another room')
  assert.equal(bystander.text.toString(), 'written before the disk filled')

  // Edits over HTTP are refused with a JSON 503.
  const edit = new Y.Doc()
  edit.getText('text').insert(0, 'over HTTP')
  const posted = await fetch(`${server.url}/api/docs/filling/update`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: Y.encodeStateAsUpdate(edit)
  })
  assert.equal(posted.status, 503)
  assert.equal((await posted.json()).code, 'storage_unavailable')

  // The writer keeps typing; its provider keeps the edit and reconnects. So does a Hocuspocus
  // client of the other document, whose socket is closed with the same code.
  writer.text.insert(0, 'typed during the outage|')
  const everything = writer.text.toString()
  tiptap.text.insert(0, 'over Hocuspocus during the outage|')
  const elsewhereText = tiptap.text.toString()
  await within(until(() => tiptap.closes.includes(STORAGE_UNAVAILABLE)), 10000,
    'the Hocuspocus socket to be closed with 4503')

  // Space returns: no restart, edits are taken again, the typed text arrives.
  execFileSync('mount', ['-o', 'remount,size=256m', mountPoint])
  await within(until(async () => (await readiness(server)).status === 200), 10000, '/readyz to answer 200 again')
  await within(docSatisfies(reader.doc, () => reader.text.toString() === everything), 20000,
    'what the writer typed during the outage to reach the reader')
  await within(docSatisfies(bystander.doc, () => bystander.text.toString() === elsewhereText), 20000,
    'what the Hocuspocus client typed during the outage to arrive')
  assert.match(server.log(), /storage has space again/)

  // Everything anyone was shown is stored.
  assert.equal((await server.stop()).code, 0, 'quire exits 0 on SIGTERM')
  server = await startQuire(flags, { dataDir })
  assert.equal(await exported(server, 'filling'), everything)
  assert.equal(await exported(server, 'elsewhere'), elsewhereText)
})

/** SIGTERM while storage refuses writes still ends the process within its grace period. */
test('SIGTERM during a storage outage ends the process in time', async (t) => {
  const mountPoint = mountTmpfs(t, 16 * MiB)
  if (mountPoint === null) return
  // A reserve larger than the filesystem: storage is short of space from the first write.
  const server = await startQuire(['--storage-reserve-bytes', String(64 * MiB), '--shutdown-grace-millis', '2000'],
    { dataDir: join(mountPoint, 'data') })
  const writer = connectProvider(server, 'refused')
  t.after(() => writer.close())
  const refused = new Promise((resolve) => writer.provider.on('connection-close', (event) => {
    if (event?.code === STORAGE_UNAVAILABLE) resolve()
  }))
  await within(synced(writer.provider), 10000, 'sync')
  writer.text.insert(0, 'never stored')
  await within(refused, 10000, 'the edit to be refused with 4503')
  const started = Date.now()
  const { code } = await within(server.stop(), 10000, 'quire to exit on SIGTERM')
  assert.equal(code, 0)
  assert.ok(Date.now() - started < 5000, `exited ${Date.now() - started} ms after SIGTERM`)
})
