// Access control: tokens checked before a byte of a document is sent, read-only clients, origins.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { startQuire, connectProvider, synced, docSatisfies, quireBin } from './harness.mjs'

const SECRET = 'correct horse battery staple'
let server
before(async () => {
  server = await startQuire(['--auth-secret', SECRET, '--allowed-origins', 'https://good.example'])
})
after(async () => { await server.stop() })

/** A token minted by `quire token`, as an operator would. */
function token (doc, access, secret = SECRET) {
  const minted = spawnSync(quireBin, ['token', '--doc', doc, '--access', access, '--ttl', '10m', '--secret', secret])
  assert.equal(minted.status, 0, minted.stderr.toString())
  return minted.stdout.toString().trim()
}

/** A correctly signed token that expired a minute ago. */
function expiredToken (doc) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ doc, access: 'admin', exp: Math.floor(Date.now() / 1000) - 60 })}`
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
}

/** The HTTP status a WebSocket upgrade gets (101 when accepted). */
function upgradeStatus (room, { token: given, origin } = {}) {
  const url = `${server.wsUrl}/${room}${given === undefined ? '' : `?token=${encodeURIComponent(given)}`}`
  const socket = new WebSocket(url, origin ? { origin } : {})
  // Terminating a refused upgrade reports "closed before the connection was established".
  socket.on('error', () => {})
  return new Promise((resolve) => {
    socket.once('unexpected-response', (_request, response) => { resolve(response.statusCode); socket.terminate() })
    socket.once('open', () => { resolve(101); socket.close() })
  })
}

const api = (path, { token: given, ...init } = {}) =>
  fetch(`${server.url}${path}`, { ...init, headers: { ...(init.headers ?? {}), ...(given ? { authorization: `Bearer ${given}` } : {}) } })

/** Missing, malformed, forged and expired tokens get 401 before the upgrade; another document's 403. */
test('WebSocket upgrades need a valid token for the document', async () => {
  assert.equal(await upgradeStatus('secret-plans'), 401)
  assert.equal(await upgradeStatus('secret-plans', { token: 'not-a-jwt' }), 401)
  assert.equal(await upgradeStatus('secret-plans', { token: token('secret-plans', 'write', 'another secret') }), 401)
  assert.equal(await upgradeStatus('secret-plans', { token: expiredToken('secret-plans') }), 401)
  assert.equal(await upgradeStatus('secret-plans', { token: token('other-doc', 'admin') }), 403)
  assert.equal(await upgradeStatus('secret-plans', { token: token('secret-plans', 'read') }), 101)
  assert.equal(await upgradeStatus('team/notes', { token: token('team/*', 'write') }), 101, 'prefix tokens')
})

/** Browsers from other origins are refused (cross-site WebSocket hijacking); allowed ones pass. */
test('origins are checked on upgrade', async () => {
  const valid = token('origin-doc', 'write')
  assert.equal(await upgradeStatus('origin-doc', { token: valid, origin: 'https://evil.example' }), 403)
  assert.equal(await upgradeStatus('origin-doc', { token: valid, origin: 'https://good.example' }), 101)
})

/** A read-only client gets the document and live edits, but its own edits are refused and go nowhere. */
test('read-only clients cannot write', async () => {
  const writer = connectProvider(server, 'readonly-doc', { params: { token: token('readonly-doc', 'write') } })
  await synced(writer.provider)
  writer.text.insert(0, 'written by the owner')
  const reader = connectProvider(server, 'readonly-doc', { params: { token: token('readonly-doc', 'read') } })
  await synced(reader.provider)
  await docSatisfies(reader.doc, () => reader.text.toString() === 'written by the owner')

  const warn = console.warn
  const denied = new Promise((resolve) => {
    console.warn = (...parts) => { if (String(parts[0]).includes('Permission denied')) resolve(parts.join(' ')); else warn(...parts) }
  })
  reader.text.insert(0, 'VANDALISM ')
  assert.match(await denied, /read-only/)
  console.warn = warn

  // The refusal comes after the room handled the edit: what is stored now is final.
  const stored = await api('/api/docs/readonly-doc/snapshot?format=text', { token: token('readonly-doc', 'read') })
  assert.equal(await stored.text(), 'written by the owner')
  writer.text.insert(writer.text.length, ', still')
  await docSatisfies(reader.doc, () => reader.text.toString().endsWith(', still'))
  assert.ok(!writer.text.toString().includes('VANDALISM'), 'the writer never saw the refused edit')
  writer.close()
  reader.close()
})

/** The HTTP API takes Bearer tokens with the same rules, and listings show only what a token names. */
test('HTTP API access levels', async () => {
  const owner = token('api-doc', 'admin')
  const source = new Y.Doc()
  source.getText('text').insert(0, 'via http')
  const post = (given) => api('/api/docs/api-doc/update', { method: 'POST', body: Y.encodeStateAsUpdate(source), token: given })
  assert.equal((await post(undefined)).status, 401)
  assert.equal((await post(token('api-doc', 'read'))).status, 403)
  assert.equal((await post(owner)).status, 200)
  assert.equal((await api('/api/docs/api-doc')).status, 401)
  const read = await api('/api/docs/api-doc/snapshot?format=text', { token: token('api-doc', 'read') })
  assert.equal(await read.text(), 'via http')
  assert.equal((await api('/api/docs/api-doc', { method: 'DELETE', token: token('api-doc', 'write') })).status, 403)
  const refusal = await api('/api/docs/api-doc', { token: token('elsewhere', 'admin') })
  assert.equal(refusal.status, 403)
  assert.equal((await refusal.json()).code, 'forbidden')

  const everything = await (await api('/api/docs', { token: token('*', 'read') })).json()
  assert.ok(everything.some((document) => document.id === 'api-doc'))
  const scoped = await (await api('/api/docs', { token: token('team/*', 'read') })).json()
  assert.ok(scoped.every((document) => document.id.startsWith('team/')), JSON.stringify(scoped))
  assert.equal((await api('/api/docs')).status, 401)
  assert.equal((await api('/api/docs/api-doc', { method: 'DELETE', token: owner })).status, 204)
})
