// Power cut: what the server acknowledged survives losing power at any instant, not only kill -9
// (issue #21). The server runs with the library in tests/powercut/ preloaded, which journals every
// change to its data directory and every sync; at the cut, tests/powercut/durable-image.mjs
// rebuilds the directory as Linux promises to leave it (the model is in that file and in
// docs/architecture.md), and a fresh server without the journal opens it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, realpathSync, renameSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { startQuire, connectProvider, synced, docSatisfies } from './harness.mjs'
import { buildImage, treeDifferences } from '../powercut/durable-image.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const sourceDir = join(here, '..', 'powercut')
const sources = ['journal.c', 'calls.c', 'journal.h'].map((name) => join(sourceDir, name))
const library = join(here, '..', '..', 'target', 'powercut', 'journal.so')

/** Compiles the journal library unless an up-to-date one is there (tests run it once each). */
function journalLibrary () {
  const built = statSync(library, { throwIfNoEntry: false })
  if (built && sources.every((source) => built.mtimeMs >= statSync(source).mtimeMs)) return library
  mkdirSync(dirname(library), { recursive: true })
  // Built beside its final name and renamed, so a half-written library is never preloaded.
  const partial = `${library}.${process.pid}`
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-shared', '-fPIC', '-o', partial, ...sources.slice(0, 2), '-lpthread'])
  renameSync(partial, library)
  return library
}

/** A fresh empty data dir, a journal file beside it (outside it), and a server journaling them. */
async function startJournaled () {
  const workDir = realpathSync(mkdtempSync(join(tmpdir(), 'quire-powercut-')))
  const dataDir = join(workDir, 'data')
  mkdirSync(dataDir)
  const journal = join(workDir, 'journal')
  const server = await startQuire([], {
    dataDir,
    env: { LD_PRELOAD: journalLibrary(), POWERCUT_ROOT: dataDir, POWERCUT_JOURNAL: journal }
  })
  return { server, workDir, dataDir, journal }
}

/** Rebuilds the data dir as a power cut at this instant leaves it (see buildImage for options). */
function imageAtCut (workDir, journal, options = {}, name = 'image') {
  const image = join(workDir, name)
  mkdirSync(image)
  const files = buildImage(journal, image, options)
  const sizes = files.map(({ path, size, sizeAtCut }) => `${path.slice(image.length + 1)} ${size}/${sizeAtCut} B`)
  return { image, files, report: `durable/written at the cut: ${sizes.join(', ') || 'no file has a durable name'}` }
}

/** A document's text as a fresh server (no journal) on `dataDir` reads it; '' if it has none. */
async function textAfterRestart (dataDir, doc) {
  const restarted = await startQuire([], { dataDir })
  const response = await fetch(`${restarted.url}/api/docs/${doc}/snapshot?format=text`)
  const text = response.ok ? await response.text() : ''
  await restarted.stop()
  return text
}

// Changes a directory the way the model distinguishes: synced and unsynced data, names made
// durable by a directory fsync and names not (a new file, a rename, an unlink).
const modelScript = `
const fs = require('node:fs')
const root = process.env.POWERCUT_ROOT
const syncDir = (dir) => { const fd = fs.openSync(dir, 'r'); fs.fsyncSync(fd); fs.closeSync(fd) }
const a = fs.openSync(root + '/a', 'w')
fs.writeSync(a, 'one')
fs.fsyncSync(a)
syncDir(root)
fs.writeSync(a, 'two')
fs.mkdirSync(root + '/sub')
fs.writeFileSync(root + '/gone', '')
syncDir(root)
const b = fs.openSync(root + '/b', 'w')
fs.writeSync(b, 'bee')
fs.fsyncSync(b)
const c = fs.openSync(root + '/sub/c', 'w')
fs.writeSync(c, 'see', 0) // at a position: pwrite rather than write
fs.fdatasyncSync(c)
syncDir(root + '/sub')
fs.renameSync(root + '/a', root + '/a2')
fs.unlinkSync(root + '/gone')
`

/** The replay keeps exactly what the model promises: unsynced data and names not synced in their directory are undone. */
test('power cut: the image keeps synced data and durable names, and nothing else', async () => {
  const workDir = realpathSync(mkdtempSync(join(tmpdir(), 'quire-powercut-')))
  const dataDir = join(workDir, 'data')
  mkdirSync(dataDir)
  const env = { ...process.env, LD_PRELOAD: journalLibrary(), POWERCUT_ROOT: dataDir, POWERCUT_JOURNAL: join(workDir, 'journal') }
  execFileSync(process.execPath, ['-e', modelScript], { env })
  const everything = join(workDir, 'everything')
  mkdirSync(everything)
  buildImage(join(workDir, 'journal'), everything, { everything: true })
  assert.deepEqual(treeDifferences(dataDir, everything), [], 'with no cut, the image is the directory')
  const { image } = imageAtCut(workDir, join(workDir, 'journal'))
  const listing = (dir) => readdirSync(dir, { recursive: true }).sort()
    .map((name) => statSync(join(dir, name)).isDirectory() ? `${name}/` : `${name}=${readFileSync(join(dir, name))}`)
  assert.deepEqual(listing(image), ['a=one', 'gone=', 'sub/', 'sub/c=see'])
  rmSync(workDir, { recursive: true, force: true })
})

/** With every call counted durable, the rebuilt directory equals the real one: the journal misses no write, size or name. */
test('power cut: the journal replays to the exact data dir a graceful stop leaves', async () => {
  const { server, workDir, dataDir, journal } = await startJournaled()
  const writer = connectProvider(server, 'replayed')
  const reader = connectProvider(server, 'replayed')
  await Promise.all([synced(writer.provider), synced(reader.provider)])
  for (let edit = 0; edit < 50; edit++) writer.text.insert(writer.text.length, `<${edit}>`)
  // Past sled's inline limit (about 128 KiB), so the value goes to a file of its own under blobs/.
  writer.text.insert(0, 'b'.repeat(200_000))
  await docSatisfies(reader.doc, () => reader.text.length === writer.text.length)
  writer.close()
  reader.close()
  const version = await fetch(`${server.url}/api/docs/replayed/versions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'v1' })
  })
  assert.equal(version.status, 201)
  assert.equal((await fetch(`${server.url}/api/docs/replayed`, { method: 'DELETE' })).status, 204)
  assert.equal((await server.stop()).code, 0)

  assert.ok(readdirSync(join(dataDir, 'sled', 'blobs')).length > 0, 'the run wrote a blob file')
  const image = join(workDir, 'image')
  mkdirSync(image)
  buildImage(journal, image, { everything: true })
  assert.deepEqual(treeDifferences(dataDir, image), [])
  rmSync(workDir, { recursive: true, force: true })
})

/** Each of 300 appends a reader was shown is in the document after a power cut right after the last one. */
test('power cut: every append a reader saw survives', async (t) => {
  const { server, workDir, journal } = await startJournaled()
  const writer = connectProvider(server, 'appends')
  const reader = connectProvider(server, 'appends')
  await Promise.all([synced(writer.provider), synced(reader.provider)])
  const pieces = Array.from({ length: 300 }, (_, edit) => `<${edit}>`)
  for (const piece of pieces) {
    writer.text.insert(writer.text.length, piece)
    await sleep(10) // the workload: a typist's pace, so each append is its own group commit
  }
  await docSatisfies(reader.doc, () => reader.text.toString().endsWith(pieces.at(-1)))
  await server.crash()
  const shown = pieces.filter((piece) => reader.text.toString().includes(piece))
  writer.close()
  reader.close()
  assert.equal(shown.length, 300, 'the reader was shown every append before the cut')

  const { image, files, report } = imageAtCut(workDir, journal)
  const text = await textAfterRestart(image, 'appends')
  const keptIn = (text) => shown.filter((piece) => text.includes(piece)).length
  const kept = keptIn(text)
  let diagnosis = ''
  if (kept < shown.length) {
    // Tells names never made durable (a directory not synced) from data lost inside the files.
    const namesKept = imageAtCut(workDir, journal, { namesAlwaysDurable: true }, 'image-names-durable')
    diagnosis = `; had every name been durable, ${keptIn(await textAfterRestart(namesKept.image, 'appends'))} ` +
      `would be kept (${namesKept.report})`
  }
  t.diagnostic(`kept ${kept} of ${shown.length} appends the reader saw; ${report}${diagnosis}`)
  assert.equal(kept, shown.length, `kept ${kept} of ${shown.length}; ${report}${diagnosis}`)
  // sled reads its settings back at every open, and never syncs them itself.
  const conf = files.find(({ path }) => path.endsWith(join('sled', 'conf')))
  assert.ok(conf && conf.size > 0 && conf.size === conf.sizeAtCut, `sled's conf is durable; ${report}`)
  assert.equal(text, shown.join(''), 'in order, nothing doubled')
  rmSync(workDir, { recursive: true, force: true })
})

/** A version created, a large edit stored as a blob and a deletion, each acknowledged just before the cut, stay so. */
test('power cut: an acknowledged version, blob-sized edit and deletion survive', async (t) => {
  const { server, workDir, journal } = await startJournaled()
  const writer = connectProvider(server, 'versioned')
  const reader = connectProvider(server, 'versioned')
  const doomed = connectProvider(server, 'doomed')
  const doomedReader = connectProvider(server, 'doomed')
  await Promise.all([writer, reader, doomed, doomedReader].map(({ provider }) => synced(provider)))
  const large = 'L'.repeat(200_000) // stored by sled as a file of its own under blobs/
  writer.text.insert(0, large)
  doomed.text.insert(0, 'to be deleted')
  await docSatisfies(reader.doc, () => reader.text.toString() === large)
  await docSatisfies(doomedReader.doc, () => doomedReader.text.toString() === 'to be deleted')
  // Gone before the deletion: a y-websocket client closed by it reconnects and writes its copy back.
  doomed.close()
  doomedReader.close()
  const created = await fetch(`${server.url}/api/docs/versioned/versions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'before the cut' })
  })
  assert.equal(created.status, 201)
  const deleted = await fetch(`${server.url}/api/docs/doomed`, { method: 'DELETE' })
  assert.equal(deleted.status, 204)
  await server.crash()
  writer.close()
  reader.close()

  const { image, report } = imageAtCut(workDir, journal)
  const restarted = await startQuire([], { dataDir: image })
  const versions = await fetch(`${restarted.url}/api/docs/versioned/versions`)
  const doc = await fetch(`${restarted.url}/api/docs/versioned/snapshot?format=text`)
  const doomedAfter = await fetch(`${restarted.url}/api/docs/doomed`)
  const found = {
    largeEditKept: doc.ok && (await doc.text()) === large,
    versionLabels: versions.ok ? (await versions.json()).map((version) => version.label) : `HTTP ${versions.status}`,
    deletedDocumentStatus: doomedAfter.status
  }
  await restarted.stop()
  t.diagnostic(report)
  const expected = { largeEditKept: true, versionLabels: ['before the cut'], deletedDocumentStatus: 404 }
  assert.deepEqual(found, expected, report)
  rmSync(workDir, { recursive: true, force: true })
})
