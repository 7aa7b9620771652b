// The HTTP API against real Yjs in Node: export, import, list, delete, errors.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { startQuire, connectProvider, synced, docSatisfies } from './harness.mjs'

let server
before(async () => { server = await startQuire() })
after(async () => { await server.stop() })

const api = (path, init) => fetch(`${server.url}${path}`, init)
const base64url = (bytes) => Buffer.from(bytes).toString('base64url')

/** Writes `text` into a fresh room through a live client and waits until it is stored. */
async function documentWith (room, text) {
  const writer = connectProvider(server, room)
  await synced(writer.provider)
  writer.text.insert(0, text)
  writer.doc.getMap('meta').set('title', room)
  const observer = connectProvider(server, room)
  await docSatisfies(observer.doc, () => observer.text.toString() === text)
  observer.close()
  return writer
}

/** A snapshot exported as update v1 or v2 rebuilds, in real Yjs, what a live client holds. */
test('snapshot round-trips into Yjs (v1 and v2)', async () => {
  const writer = await documentWith('export-me', 'exported text')
  const v1 = await api('/api/docs/export-me/snapshot')
  assert.equal(v1.status, 200)
  assert.equal(v1.headers.get('content-type'), 'application/octet-stream')
  const fromV1 = new Y.Doc()
  Y.applyUpdate(fromV1, new Uint8Array(await v1.arrayBuffer()))
  assert.equal(fromV1.getText('text').toString(), writer.text.toString())
  assert.equal(fromV1.getMap('meta').get('title'), 'export-me')

  const v2 = await api('/api/docs/export-me/snapshot?format=update-v2')
  const fromV2 = new Y.Doc()
  Y.applyUpdateV2(fromV2, new Uint8Array(await v2.arrayBuffer()))
  assert.equal(fromV2.getText('text').toString(), 'exported text')

  const json = await (await api('/api/docs/export-me/snapshot?format=json')).json()
  assert.deepEqual(json, { text: 'exported text', meta: { title: 'export-me' } })
  const plain = await api('/api/docs/export-me/snapshot?format=text')
  assert.equal(plain.headers.get('content-type'), 'text/plain; charset=utf-8')
  assert.equal(await plain.text(), 'exported text')
  writer.close()
})

/** `since` returns only what a stale copy lacks, and that diff completes it. */
test('a since-diff completes a stale document', async () => {
  const writer = await documentWith('stale', 'first part')
  const stale = new Y.Doc()
  Y.applyUpdate(stale, new Uint8Array(await (await api('/api/docs/stale/snapshot')).arrayBuffer()))
  writer.text.insert(writer.text.length, ', second part')
  const observer = connectProvider(server, 'stale')
  await docSatisfies(observer.doc, () => observer.text.toString().endsWith('second part'))
  observer.close()
  const since = base64url(Y.encodeStateVector(stale))
  const diff = new Uint8Array(await (await api(`/api/docs/stale/snapshot?since=${since}`)).arrayBuffer())
  const full = new Uint8Array(await (await api('/api/docs/stale/snapshot')).arrayBuffer())
  assert.ok(diff.length < full.length, 'the diff is smaller than the whole document')
  Y.applyUpdate(stale, diff)
  assert.equal(stale.getText('text').toString(), 'first part, second part')
  const vector = new Uint8Array(await (await api('/api/docs/stale/state-vector')).arrayBuffer())
  assert.deepEqual(Y.decodeStateVector(vector), Y.decodeStateVector(Y.encodeStateVector(stale)))
  writer.close()
})

/** An update POSTed over HTTP reaches a live y-websocket client; v2 bodies too. */
test('POSTed updates reach live clients', async () => {
  const reader = connectProvider(server, 'posted')
  await synced(reader.provider)
  const source = new Y.Doc()
  source.getText('text').insert(0, 'from http')
  const response = await api('/api/docs/posted/update', {
    method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(source)
  })
  assert.equal(response.status, 200)
  assert.deepEqual(await response.json(), { changed: true })
  await docSatisfies(reader.doc, () => reader.text.toString() === 'from http')

  const before = Y.encodeStateVector(source)
  source.getText('text').insert(0, 'v2 ')
  const v2 = await api('/api/docs/posted/update?format=update-v2', {
    method: 'POST', body: Y.encodeStateAsUpdateV2(source, before)
  })
  assert.equal(v2.status, 200)
  await docSatisfies(reader.doc, () => reader.text.toString() === 'v2 from http')
  reader.close()
})

/** A malformed body is refused with 400 and changes nothing; a wrong content type gets 415. */
test('malformed updates are refused and change nothing', async () => {
  const writer = await documentWith('guarded', 'intact')
  const before = await (await api('/api/docs/guarded/snapshot')).arrayBuffer()
  const bad = await api('/api/docs/guarded/update', { method: 'POST', body: new Uint8Array([1, 2, 3, 255, 255]) })
  assert.equal(bad.status, 400)
  const error = await bad.json()
  assert.equal(error.code, 'malformed_update')
  assert.ok(error.error.length > 0)
  const wrongType = await api('/api/docs/guarded/update', {
    method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello'
  })
  assert.equal(wrongType.status, 415)
  assert.equal((await wrongType.json()).code, 'unsupported_media_type')
  const after = await (await api('/api/docs/guarded/snapshot')).arrayBuffer()
  assert.deepEqual(new Uint8Array(after), new Uint8Array(before))
  writer.close()
})

/** Listing pages through documents with their sizes and live client counts. */
test('list and metadata', async () => {
  const writers = [await documentWith('list-a', 'a'), await documentWith('list-b', 'bb')]
  const all = await (await api('/api/docs?limit=1000')).json()
  const a = all.find((document) => document.id === 'list-a')
  assert.ok(a, 'list-a is listed')
  assert.ok(a.bytes > 0)
  assert.equal(a.clients, 1, 'its writer is connected')
  assert.ok(!Number.isNaN(Date.parse(a.updated_at)))
  const ids = all.map((document) => document.id)
  assert.deepEqual(ids, [...ids].sort(), 'sorted by id')
  const first = await (await api('/api/docs?limit=1')).json()
  assert.equal(first.length, 1)
  const next = await (await api(`/api/docs?limit=1&after=${encodeURIComponent(first[0].id)}`)).json()
  assert.equal(next[0].id, ids[1], 'the next page starts after the last id')
  const meta = await api('/api/docs/list-b')
  assert.equal(meta.status, 200)
  assert.equal((await meta.json()).id, 'list-b')
  writers.forEach((writer) => writer.close())
})

/** Unknown documents and bad names get JSON errors with fitting statuses. */
test('unknown documents, bad names and bad formats', async () => {
  for (const path of ['/api/docs/nope', '/api/docs/nope/snapshot', '/api/docs/nope/state-vector']) {
    const response = await api(path)
    assert.equal(response.status, 404, path)
    assert.equal((await response.json()).code, 'document_not_found')
  }
  const badName = await api('/api/docs/bad%0Aname')
  assert.equal(badName.status, 400)
  assert.equal((await badName.json()).code, 'invalid_document_id')
  const writer = await documentWith('formats', 'x')
  const badFormat = await api('/api/docs/formats/snapshot?format=pdf')
  assert.equal(badFormat.status, 400)
  assert.match((await badFormat.json()).error, /update-v2/)
  const badSince = await api('/api/docs/formats/snapshot?since=!!!')
  assert.equal(badSince.status, 400)
  writer.close()
})

/** DELETE closes live clients with 4410 (final for y-websocket) and the data is gone. */
test('delete closes live clients and removes the document', async () => {
  const writer = await documentWith('doomed', 'soon gone')
  const closed = new Promise((resolve) => writer.provider.ws.addEventListener('close', (event) => resolve(event.code)))
  const response = await api('/api/docs/doomed', { method: 'DELETE' })
  assert.equal(response.status, 204)
  assert.equal(await closed, 4410)
  assert.equal((await api('/api/docs/doomed')).status, 404)
  assert.equal((await api('/api/docs/doomed', { method: 'DELETE' })).status, 404)
  writer.close()
})

/** The OpenAPI document is served and every path it lists is routed. */
test('openapi document matches the routes', async () => {
  const document = await (await api('/api/openapi.json')).json()
  assert.equal(document.openapi, '3.0.3')
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const method of Object.keys(methods)) {
      // A bad cursor gets a (routed) 400 at once; a good one would stream forever.
      const concrete = path.replace('{id}', 'openapi-probe').replace('{version}', '1') + (path === '/api/changes' ? '?since=probe' : '')
      const response = await api(concrete, { method: method.toUpperCase(), body: method === 'post' ? '{}' : undefined, headers: method === 'post' ? { 'content-type': 'application/json' } : {} })
      const body = await response.text()
      assert.ok(!(response.status === 404 && body.includes('"not_found"')) && response.status !== 405,
        `${method.toUpperCase()} ${path} is routed (got ${response.status} ${body})`)
    }
  }
})

/** Versions: create, list, export, and restore with new edits that live clients receive. */
test('versions are kept, listed, exported and restored', async () => {
  const writer = await documentWith('versioned', 'first draft')
  const created = await api('/api/docs/versioned/versions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'draft one' })
  })
  assert.equal(created.status, 201)
  const version = await created.json()
  assert.equal(version.label, 'draft one')
  assert.ok(!Number.isNaN(Date.parse(version.created_at)))

  writer.text.delete(0, writer.text.length)
  writer.text.insert(0, 'second draft, much better')
  await docSatisfies(writer.doc, () => writer.text.toString() === 'second draft, much better')
  const watcher = connectProvider(server, 'versioned')
  await docSatisfies(watcher.doc, () => watcher.text.toString() === 'second draft, much better')

  const listed = await (await api('/api/docs/versioned/versions')).json()
  assert.deepEqual(listed.map((entry) => [entry.version_id, entry.label]), [[version.version_id, 'draft one']])
  const old = await api(`/api/docs/versioned/versions/${version.version_id}/snapshot?format=text`)
  assert.equal(await old.text(), 'first draft')

  const stateBefore = Y.encodeStateVector(watcher.doc)
  const restored = await api(`/api/docs/versioned/versions/${version.version_id}/restore`, { method: 'POST' })
  assert.equal(restored.status, 200)
  assert.deepEqual(await restored.json(), { version_id: version.version_id, changed: true })
  // Live clients receive the restore as new edits: the content is the version's, history grows.
  await docSatisfies(watcher.doc, () => watcher.text.toString() === 'first draft')
  await docSatisfies(writer.doc, () => writer.text.toString() === 'first draft')
  assert.notDeepEqual(Y.encodeStateVector(watcher.doc), stateBefore, 'restoring added history')
  assert.equal(await (await api('/api/docs/versioned/snapshot?format=text')).text(), 'first draft')

  const missing = await api('/api/docs/versioned/versions/999/restore', { method: 'POST' })
  assert.equal(missing.status, 404)
  assert.equal((await missing.json()).code, 'version_not_found')
  const badLabel = await api('/api/docs/versioned/versions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'bad\nlabel' })
  })
  assert.equal(badLabel.status, 400)
  const notJson = await api('/api/docs/versioned/versions', { method: 'POST', body: 'label' })
  assert.equal(notJson.status, 415)
  watcher.close()
  writer.close()
})

/** Bodies over --max-body-bytes get 413 with a JSON error, and change nothing. */
test('body limit', async () => {
  const small = await startQuire(['--max-body-bytes', '1024'])
  const source = new Y.Doc()
  source.getText('text').insert(0, 'x'.repeat(4096))
  const response = await fetch(`${small.url}/api/docs/limited/update`, { method: 'POST', body: Y.encodeStateAsUpdate(source) })
  assert.equal(response.status, 413)
  assert.equal((await response.json()).code, 'body_too_large')
  assert.equal((await fetch(`${small.url}/api/docs/limited`)).status, 404, 'nothing was stored')
  await small.stop()
})

/** Health and readiness answer while the server runs. */
test('healthz and readyz', async () => {
  const health = await api('/healthz')
  assert.equal(health.status, 200)
  const ready = await api('/readyz')
  assert.equal(ready.status, 200)
  assert.equal(await ready.text(), 'ready')
})

/** Every route refuses unknown ids, bad ids and bad parameters with JSON, and stores nothing. */
test('bad input on every route changes nothing stored', async () => {
  const writer = await documentWith('bystander', 'untouched')
  const listing = async () => JSON.stringify((await (await api('/api/docs?limit=1000')).json()).map(({ id, bytes }) => [id, bytes]))
  const before = await listing()
  const snapshotBefore = new Uint8Array(await (await api('/api/docs/bystander/snapshot')).arrayBuffer())
  const json = { 'content-type': 'application/json' }
  const requests = [
    ['GET', '/api/docs/ghost', 404], ['DELETE', '/api/docs/ghost', 404],
    ['GET', '/api/docs/ghost/snapshot', 404], ['GET', '/api/docs/ghost/state-vector', 404],
    ['GET', '/api/docs/ghost/versions', 404], ['POST', '/api/docs/ghost/versions', 404, '{"label":"x"}', json],
    ['GET', '/api/docs/ghost/versions/1/snapshot', 404], ['POST', '/api/docs/ghost/versions/1/restore', 404],
    ['GET', '/api/docs/bad%7Fid', 400], ['DELETE', '/api/docs/bad%7Fid', 400],
    ['GET', '/api/docs/bad%7Fid/snapshot', 400], ['POST', '/api/docs/bad%7Fid/update', 400, new Uint8Array([0, 0])],
    ['POST', '/api/docs/bad%7Fid/versions', 400, '{"label":"x"}', json],
    ['GET', `/api/docs/${'x'.repeat(513)}`, 400],
    ['GET', '/api/docs/bystander/snapshot?format=docx', 400],
    ['GET', '/api/docs/bystander/snapshot?since=%%%', 400],
    ['GET', '/api/docs/bystander/snapshot?since=_w', 400],
    ['GET', '/api/docs/bystander/versions/zero/snapshot', 404],
    ['GET', '/api/docs/bystander/versions/1/snapshot?format=docx', 400],
    ['POST', '/api/docs/bystander/update', 400, new Uint8Array([0xff, 0xff, 0xff])],
    ['POST', '/api/docs/bystander/update?format=update-v2', 400, new Uint8Array([1, 2, 3])],
    ['POST', '/api/docs/bystander/update?format=zip', 400, new Uint8Array([0, 0])],
    ['POST', '/api/docs/bystander/versions', 400, '{"label": 7}', json],
    ['GET', '/api/docs?limit=many', 400]
  ]
  for (const [method, path, status, body, headers] of requests) {
    const response = await api(path, { method, body, headers })
    assert.equal(response.status, status, `${method} ${path}`)
    const error = await response.json()
    assert.ok(typeof error.error === 'string' && typeof error.code === 'string', `${method} ${path} answers JSON`)
  }
  assert.equal(await listing(), before, 'no document was created, changed or removed')
  const snapshotAfter = new Uint8Array(await (await api('/api/docs/bystander/snapshot')).arrayBuffer())
  assert.deepEqual(snapshotAfter, snapshotBefore)
  writer.close()
})
