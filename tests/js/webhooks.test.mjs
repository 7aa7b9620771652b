// Webhooks and the change feed: signed, debounced, retried, crash-safe event delivery to a real
// node:http receiver, editing unaffected by a stuck receiver, and /api/changes as SSE.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { startQuire, connectProvider, synced, docSatisfies, within, quireBin } from './harness.mjs'

const SECRET = 'webhook-test-secret'

/**
 * A webhook receiver on 127.0.0.1: keeps every request, answers each with `respond(request)`
 * (a status, or 'hang' to never answer), and lets a test await requests as they come.
 */
async function startReceiver ({ port = 0, respond = () => 200 } = {}) {
  const receiver = { requests: [], respond, waiters: [], hanging: [] }
  const server = createServer((request, response) => {
    const chunks = []
    request.on('data', (chunk) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks)
      const received = { headers: request.headers, body, event: JSON.parse(body.toString()) }
      const answer = receiver.respond(received)
      received.status = answer
      receiver.requests.push(received)
      receiver.waiters = receiver.waiters.filter(({ predicate, resolve }) => {
        if (!predicate(received)) return true
        resolve(received)
        return false
      })
      if (answer === 'hang') receiver.hanging.push(response)
      else response.writeHead(answer).end()
    })
  })
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  receiver.port = server.address().port
  receiver.url = `http://127.0.0.1:${receiver.port}/hook`
  /** The first request, already received or still to come, for which `predicate` holds. */
  receiver.next = (predicate) => {
    const seen = receiver.requests.find(predicate)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve) => receiver.waiters.push({ predicate, resolve }))
  }
  receiver.events = (predicate = () => true) => receiver.requests.filter((request) => predicate(request.event))
  receiver.close = () => new Promise((resolve) => {
    server.closeAllConnections()
    server.close(resolve)
  })
  return receiver
}

/** Whether `request` carries a valid `Quire-Signature` of its exact body, as a receiver checks it. */
function signatureValid (request, secret = SECRET) {
  const expected = 'sha256=' + createHmac('sha256', secret).update(request.body).digest('hex')
  const given = request.headers['quire-signature'] ?? ''
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected))
}

const webhookArgs = (receiver, debounceMillis, extra = []) => [
  '--webhook-url', receiver.url, '--webhook-secret', SECRET,
  '--webhook-debounce-millis', String(debounceMillis), ...extra
]

/** POSTs a Yjs update that inserts `text` into `doc`'s text, as a fresh client; durable when it resolves. */
async function postEdit (server, document, text) {
  const source = new Y.Doc()
  source.getText('text').insert(0, text)
  const response = await fetch(`${server.url}/api/docs/${document}/update`, {
    method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(source)
  })
  assert.equal(response.status, 200, await response.text())
}

const isEvent = (type, document) => (request) => request.event.type === type && request.event.document === document

/** The state vector of an event, as a Map of client -> clock. */
const stateVectorOf = (event) => Y.decodeStateVector(Buffer.from(event.state_vector, 'base64'))

/** A metric's value (summed over label sets whose labels contain `labels`) from /metrics. */
async function metric (server, name, labels = '') {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  return text.split('\n')
    .filter((line) => line.startsWith(name) && line.includes(labels) && !line.startsWith('#'))
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/).pop()), 0)
}

/** Resolves once `check()` is true, re-asking every 50 ms (for values only /metrics shows). */
async function eventually (check, what, ms = 20000) {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// Many edits within one debounce window make one signed document.updated carrying the state
// after all of them; a later edit makes another.
test('edits are announced once per debounce window, signed', async () => {
  const receiver = await startReceiver()
  const server = await startQuire(webhookArgs(receiver, 1500))
  const editor = connectProvider(server, 'debounced')
  try {
    await synced(editor.provider)
    for (let i = 0; i < 20; i++) editor.text.insert(editor.text.length, `edit ${i} `)
    const first = await within(receiver.next(isEvent('document.updated', 'debounced')), 20000, 'the first document.updated')
    assert.ok(signatureValid(first), 'the signature verifies with the shared secret')
    assert.equal(first.headers['content-type'], 'application/json')
    assert.equal(first.headers['quire-event-type'], 'document.updated')
    assert.equal(first.headers['quire-event-id'], first.event.id)
    assert.ok(!Number.isNaN(Date.parse(first.event.time)), 'time is RFC 3339')
    assert.deepEqual(stateVectorOf(first.event), Y.decodeStateVector(Y.encodeStateVector(editor.doc)),
      'one event announces every edit of the window')
    const created = await within(receiver.next(isEvent('document.created', 'debounced')), 20000, 'document.created')
    assert.ok(Number(created.event.id) < Number(first.event.id), 'created comes before the update of its window')

    editor.text.insert(0, 'later ')
    const second = await within(receiver.next((r) => isEvent('document.updated', 'debounced')(r) && r !== first), 20000, 'a second document.updated')
    assert.deepEqual(stateVectorOf(second.event), Y.decodeStateVector(Y.encodeStateVector(editor.doc)))
    assert.ok(Number(second.event.id) > Number(first.event.id))
    // Events go out in order, so any other event of the first window would have come before this one.
    assert.equal(receiver.events((e) => e.type === 'document.updated').length, 2)
    assert.ok(receiver.requests.every((request) => signatureValid(request)))
    assert.ok(!signatureValid(first, 'another secret'), 'another secret does not verify')
  } finally {
    editor.close()
    await server.stop()
    await receiver.close()
  }
})

// A receiver answering 500 gets the same event again until it accepts it, and one that is down
// gets it once it is back on its port; failures show in /metrics.
test('deliveries are retried after 500s and while the receiver is down', async () => {
  let refusals = 2
  const receiver = await startReceiver({ respond: () => (refusals-- > 0 ? 500 : 204) })
  const server = await startQuire(webhookArgs(receiver, 100, ['--webhook-max-backoff-millis', '400']))
  try {
    await postEdit(server, 'flaky', 'one')
    const accepted = await within(receiver.next((r) => r.status === 204), 20000, 'an accepted delivery')
    const attempts = receiver.requests.filter((r) => r.event.id === accepted.event.id)
    assert.deepEqual(attempts.map((r) => r.status), [500, 500, 204], 'the same event, retried until accepted')
    assert.ok(attempts.every((r) => r.body.equals(accepted.body)), 'a retry sends the same bytes')
    assert.ok(await metric(server, 'quire_webhook_deliveries_total', 'result="failed"') >= 2)

    const port = receiver.port
    await receiver.close()
    const failedBefore = await metric(server, 'quire_webhook_deliveries_total', 'result="failed"')
    await postEdit(server, 'while-down', 'two')
    await eventually(async () => await metric(server, 'quire_webhook_deliveries_total', 'result="failed"') > failedBefore,
      'a failed delivery to the closed port')
    const back = await startReceiver({ port })
    try {
      const event = await within(back.next(isEvent('document.updated', 'while-down')), 20000, 'the event after the receiver came back')
      assert.ok(signatureValid(event))
    } finally {
      await back.close()
    }
  } finally {
    await server.stop()
  }
})

// A receiver down so long that its backlog passes --webhook-max-backlog-events loses the oldest
// events (counted in /metrics) instead of holding the log until the disk fills; it gets the rest.
test('a dead receiver holds back only its maximum backlog', async () => {
  let down = true
  const receiver = await startReceiver({ respond: () => (down ? 500 : 204) })
  const server = await startQuire(webhookArgs(receiver, 50, [
    '--webhook-max-backoff-millis', '300', '--webhook-max-backlog-events', '4', '--changes-retention-events', '1'
  ]))
  try {
    for (let n = 0; n < 8; n++) await postEdit(server, `backlog-${n}`, 'x')
    // Sixteen events (created and updated per document); the log is trimmed to the last four.
    await eventually(async () => await metric(server, 'quire_change_events_total') >= 16, 'sixteen events recorded')
    await eventually(async () => {
      const page = await fetch(`${server.url}/api/changes?since=0`, { signal: AbortSignal.timeout(1000) }).catch(() => null)
      if (page === null) return false
      const gone = page.status === 410
      await page.body?.cancel()
      return gone
    }, 'the oldest events trimmed despite the dead receiver', 30000)
    down = false
    const last = await within(receiver.next((r) => r.status === 204 && r.event.document === 'backlog-7' &&
      r.event.type === 'document.updated'), 20000, 'the newest event delivered')
    assert.ok(signatureValid(last))
    // Every event is either delivered or counted as dropped (an event already being retried when
    // the log was trimmed is still delivered).
    const dropped = await metric(server, 'quire_webhook_dropped_events_total')
    const delivered = new Set(receiver.requests.filter((r) => r.status === 204).map((r) => r.event.id))
    assert.ok(dropped >= 1, 'dropped events are counted')
    assert.equal(delivered.size + dropped, 16)
  } finally {
    await server.stop()
    await receiver.close()
  }
})

// An update that was durable when the server was killed -9, before its debounce window ended,
// is still announced after the restart.
test('a pending event survives kill -9', async () => {
  const receiver = await startReceiver()
  // A window far longer than the test: the event cannot have gone out before the kill.
  const args = webhookArgs(receiver, 600000)
  const first = await startQuire(args)
  try {
    await postEdit(first, 'crashy', 'durable before the kill')
    await first.crash()
    assert.equal(receiver.events((e) => e.document === 'crashy').length, 0, 'nothing was sent before the kill')
    const second = await startQuire(args, { dataDir: first.dataDir })
    try {
      const updated = await within(receiver.next(isEvent('document.updated', 'crashy')), 20000, 'the event after the restart')
      assert.ok(signatureValid(updated))
      const stored = new Y.Doc()
      Y.applyUpdate(stored, new Uint8Array(await (await fetch(`${second.url}/api/docs/crashy/snapshot`)).arrayBuffer()))
      assert.deepEqual(stateVectorOf(updated.event), Y.decodeStateVector(Y.encodeStateVector(stored)))
      await within(receiver.next(isEvent('document.created', 'crashy')), 20000, 'the creation too')
    } finally {
      await second.stop()
    }
  } finally {
    await first.stop()
    await receiver.close()
  }
})

// While the receiver never answers, edits still reach other clients promptly, and the backlog
// of undelivered events shows in /metrics.
test('a hanging receiver does not slow editing', async () => {
  const receiver = await startReceiver({ respond: () => 'hang' })
  const server = await startQuire(webhookArgs(receiver, 50, ['--webhook-timeout-millis', '600000']))
  const writer = connectProvider(server, 'busy')
  const reader = connectProvider(server, 'busy')
  try {
    await Promise.all([synced(writer.provider), synced(reader.provider)])
    writer.text.insert(0, 'first ')
    await within(receiver.next(() => true), 20000, 'a delivery the receiver holds')
    for (let round = 0; round < 10; round++) {
      const word = `round-${round} `
      writer.text.insert(writer.text.length, word)
      await within(docSatisfies(reader.doc, () => reader.text.toString().includes(word)), 5000, `round ${round} reaching the other client`)
      // A second document per round: more windows, more undelivered events.
      await postEdit(server, `busy-${round}`, word)
    }
    assert.equal(receiver.requests.length, 1, 'deliveries are stuck on the first request')
    await eventually(async () => await metric(server, 'quire_webhook_backlog_events') >= 10, 'the backlog in /metrics')
  } finally {
    writer.close()
    reader.close()
    await server.stop()
    await receiver.close()
  }
})

// Creating a document, keeping a version and deleting it are announced, in that order.
test('document.created, version.created and document.deleted arrive', async () => {
  const receiver = await startReceiver()
  const server = await startQuire(webhookArgs(receiver, 100))
  try {
    await postEdit(server, 'lifecycle', 'hello')
    const created = await within(receiver.next(isEvent('document.created', 'lifecycle')), 20000, 'document.created')
    assert.ok(created.event.state_vector.length > 0)
    const version = await (await fetch(`${server.url}/api/docs/lifecycle/versions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'v1' })
    })).json()
    const versioned = await within(receiver.next(isEvent('version.created', 'lifecycle')), 20000, 'version.created')
    assert.equal(versioned.event.version_id, version.version_id)
    assert.ok(versioned.event.state_vector.length > 0)
    assert.equal((await fetch(`${server.url}/api/docs/lifecycle`, { method: 'DELETE' })).status, 204)
    const deleted = await within(receiver.next(isEvent('document.deleted', 'lifecycle')), 20000, 'document.deleted')
    assert.equal(deleted.event.state_vector, undefined)
    assert.ok(Number(created.event.id) < Number(versioned.event.id) && Number(versioned.event.id) < Number(deleted.event.id))
    assert.ok([created, versioned, deleted].every((request) => signatureValid(request)))
  } finally {
    await server.stop()
    await receiver.close()
  }
})

// A document created empty through POST /api/docs is announced as created (with the empty state
// vector) once durable; creating it again (409) announces nothing more.
test('POST /api/docs announces document.created', async () => {
  const receiver = await startReceiver()
  const server = await startQuire(webhookArgs(receiver, 100))
  try {
    const create = () => fetch(`${server.url}/api/docs`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'declared', kind: 'rich' })
    })
    assert.equal((await create()).status, 201)
    const created = await within(receiver.next(isEvent('document.created', 'declared')), 20000, 'document.created')
    assert.equal(stateVectorOf(created.event).size, 0)
    assert.ok(signatureValid(created))
    assert.equal((await create()).status, 409)
    // Anything announced after the refused creation comes after this edit's update event.
    await postEdit(server, 'declared', 'typed')
    await within(receiver.next(isEvent('document.updated', 'declared')), 20000, 'document.updated')
    // Counted by event id: delivery is at least once, so one event may arrive twice.
    const createdIds = new Set(receiver.events((event) => event.type === 'document.created' && event.document === 'declared')
      .map((request) => request.event.id))
    assert.equal(createdIds.size, 1)
  } finally {
    await server.stop()
    await receiver.close()
  }
})

/** Opens an SSE stream at `path`; `next()` resolves with each event ({ id, event, data }) in turn. */
async function openStream (server, path, headers = {}) {
  const controller = new AbortController()
  const response = await fetch(`${server.url}${path}`, { headers, signal: controller.signal })
  const stream = { status: response.status, response, queue: [], waiters: [], comments: 0 }
  stream.close = () => controller.abort()
  if (response.status !== 200) return stream
  const decoder = new TextDecoder()
  let buffer = ''
  ;(async () => {
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true })
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = {}
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { stream.comments++; continue }
            const colon = line.indexOf(':')
            const field = line.slice(0, colon)
            event[field] = (event[field] ?? '') + line.slice(colon + 1).replace(/^ /, '')
          }
          if (event.data === undefined) continue
          const waiter = stream.waiters.shift()
          if (waiter) waiter(event)
          else stream.queue.push(event)
        }
      }
    } catch { /* aborted */ }
  })()
  stream.next = () => stream.queue.length > 0
    ? Promise.resolve(stream.queue.shift())
    : new Promise((resolve) => stream.waiters.push(resolve))
  return stream
}

// The change feed replays stored events after a cursor, then streams live ones, and resumes
// from Last-Event-ID; ids are the cursors.
test('/api/changes replays, follows live events and resumes', async () => {
  const server = await startQuire(['--change-feed', 'on', '--webhook-debounce-millis', '50'])
  try {
    await postEdit(server, 'feed-a', 'a')
    await postEdit(server, 'feed-b', 'b')
    // Each document: created, then updated.
    const all = await openStream(server, '/api/changes?since=0')
    assert.equal(all.status, 200)
    assert.equal(all.response.headers.get('content-type'), 'text/event-stream')
    const replayed = []
    for (let i = 0; i < 4; i++) replayed.push(await within(all.next(), 20000, `replayed event ${i}`))
    assert.deepEqual(replayed.map((e) => e.id), ['1', '2', '3', '4'])
    assert.deepEqual(replayed.map((e) => JSON.parse(e.data).id), ['1', '2', '3', '4'])
    assert.deepEqual(replayed.map((e) => e.event).sort(), ['document.created', 'document.created', 'document.updated', 'document.updated'])

    await postEdit(server, 'feed-a', 'more')
    const live = await within(all.next(), 20000, 'a live event')
    assert.equal(live.id, '5')
    assert.deepEqual(JSON.parse(live.data).type, 'document.updated')
    all.close()

    const resumed = await openStream(server, '/api/changes?since=0', { 'last-event-id': '3' })
    assert.deepEqual([(await resumed.next()).id, (await resumed.next()).id], ['4', '5'], 'Last-Event-ID wins over since')
    resumed.close()

    const bad = await fetch(`${server.url}/api/changes?since=soon`)
    assert.equal(bad.status, 400)
    assert.equal((await bad.json()).code, 'invalid_cursor')
  } finally {
    await server.stop()
  }
})

// A cursor older than what retention keeps gets 410 with a JSON error, so the consumer resyncs.
test('/api/changes answers 410 for an expired cursor', async () => {
  const args = ['--change-feed', 'on', '--webhook-debounce-millis', '50', '--changes-retention-events', '1']
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-retention-'))
  const first = await startQuire(args, { dataDir })
  await postEdit(first, 'old-a', 'a')
  await postEdit(first, 'old-b', 'b')
  const stream = await openStream(first, '/api/changes?since=0')
  for (let i = 0; i < 4; i++) await within(stream.next(), 20000, `event ${i}`)
  stream.close()
  await first.stop()
  // Retention trims when the server starts (and every few seconds after).
  const second = await startQuire(args, { dataDir })
  try {
    let expired
    await eventually(async () => {
      expired = await fetch(`${second.url}/api/changes?since=0`)
      if (expired.status === 200) expired.body.cancel()
      return expired.status === 410
    }, 'retention to trim the old events')
    const body = await expired.json()
    assert.equal(body.code, 'cursor_expired')
    const current = await openStream(second, '/api/changes?since=3')
    assert.equal(current.status, 200, 'the last kept event is still a valid cursor')
    current.close()
  } finally {
    await second.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

/** A token minted by `quire token`. */
function token (doc, access, secret) {
  const minted = spawnSync(quireBin, ['token', '--doc', doc, '--access', access, '--ttl', '10m', '--secret', secret])
  assert.equal(minted.status, 0, minted.stderr.toString())
  return minted.stdout.toString().trim()
}

// With tokens on, the feed needs one (401 without) and shows only the documents it covers.
test('/api/changes needs a token and is filtered by its scope', async () => {
  const authSecret = 'auth-secret-for-changes'
  const server = await startQuire(['--change-feed', 'on', '--auth-secret', authSecret, '--webhook-debounce-millis', '50'])
  const admin = { authorization: `Bearer ${token('*', 'admin', authSecret)}` }
  try {
    const refused = await fetch(`${server.url}/api/changes`)
    assert.equal(refused.status, 401)
    assert.equal((await refused.json()).code, 'unauthorized')

    const team = await openStream(server, '/api/changes?since=0', { authorization: `Bearer ${token('team/*', 'read', authSecret)}` })
    assert.equal(team.status, 200)
    for (const document of ['private', 'team/notes']) {
      const source = new Y.Doc()
      source.getText('text').insert(0, document)
      const response = await fetch(`${server.url}/api/docs/${encodeURIComponent(document)}/update`, {
        method: 'POST', headers: { 'content-type': 'application/octet-stream', ...admin }, body: Y.encodeStateAsUpdate(source)
      })
      assert.equal(response.status, 200)
    }
    const seen = [await team.next(), await team.next()].map((e) => JSON.parse(e.data))
    assert.deepEqual(seen.map((e) => e.document), ['team/notes', 'team/notes'])
    assert.deepEqual(seen.map((e) => e.type), ['document.created', 'document.updated'])
    team.close()
  } finally {
    await server.stop()
  }
})

// Bad webhook settings stop the server at start with a message saying what is wrong.
test('webhook settings are checked at start', () => {
  const serve = (...args) => spawnSync(quireBin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', '/nonexistent/quire', ...args])
  const ftp = serve('--webhook-url', 'ftp://example.com/hook', '--webhook-secret', 's')
  assert.notEqual(ftp.status, 0)
  assert.match(ftp.stderr.toString(), /webhooks are sent over http or https/)
  const relative = serve('--webhook-url', '/hook', '--webhook-secret', 's')
  assert.match(relative.stderr.toString(), /not a URL/)
  const unsigned = serve('--webhook-url', 'https://example.com/hook')
  assert.notEqual(unsigned.status, 0)
  assert.match(unsigned.stderr.toString(), /needs a non-empty --webhook-secret/)
  const emptySecret = serve('--webhook-url', 'https://example.com/hook', '--webhook-secret', ' ')
  assert.notEqual(emptySecret.status, 0)
  assert.match(emptySecret.stderr.toString(), /needs a non-empty --webhook-secret/)
  const feedOff = serve('--webhook-url', 'https://example.com/hook', '--webhook-secret', 's', '--change-feed', 'off')
  assert.notEqual(feedOff.status, 0)
  assert.match(feedOff.stderr.toString(), /needs the change feed/)
  // quire config print shows neither the secret nor a URL's password or query.
  const printed = spawnSync(quireBin, ['config', 'print', '--webhook-url', 'https://hooks:pw@example.com/in?token=t1',
    '--webhook-secret', 'the-secret'])
  assert.equal(printed.status, 0, printed.stderr.toString())
  const text = printed.stdout.toString()
  assert.match(text, /webhook_url = "https:\/\/hooks:\*\*\*@example.com\/in\?\*\*\*"/)
  assert.ok(!text.includes('pw@') && !text.includes('t1') && !text.includes('the-secret'), text)
})
