// TLS: Quire serves https and wss itself when given a certificate and key.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { startQuire, connectProvider, synced, docSatisfies, quireBin } from './harness.mjs'

/** A WebSocket for the test's self-signed certificate. */
class TrustingWebSocket extends WebSocket {
  constructor (url, protocols) {
    super(url, protocols, { rejectUnauthorized: false })
  }
}

/** GET over https, trusting the self-signed certificate. */
function httpsGet (url) {
  return new Promise((resolve, reject) => {
    request(url, { rejectUnauthorized: false }, (response) => {
      let body = ''
      response.on('data', (chunk) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode, body }))
    }).on('error', reject).end()
  })
}

/** With --tls-cert/--tls-key, y-websocket clients sync over wss and the API answers over https. */
test('wss and https with a certificate', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'quire-tls-'))
  const certificate = join(directory, 'cert.pem')
  const key = join(directory, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certificate,
    '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' })
  const server = await startQuire(['--tls-cert', certificate, '--tls-key', key])
  assert.match(server.url, /^https:/)
  const options = { WebSocketPolyfill: TrustingWebSocket }
  const alice = connectProvider(server, 'encrypted', options)
  const bob = connectProvider(server, 'encrypted', options)
  await Promise.all([synced(alice.provider), synced(bob.provider)])
  alice.text.insert(0, 'over tls')
  await docSatisfies(bob.doc, () => bob.text.toString() === 'over tls')
  const exported = await httpsGet(`${server.url}/api/docs/encrypted/snapshot?format=text`)
  assert.deepEqual(exported, { status: 200, body: 'over tls' })
  alice.close()
  bob.close()
  await server.stop()

  // Half a configuration is refused at start, naming what is missing.
  const refused = spawnSync(quireBin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', directory, '--tls-cert', certificate])
  assert.notEqual(refused.status, 0)
  assert.match(refused.stderr.toString(), /--tls-cert and --tls-key go together/)
  rmSync(directory, { recursive: true, force: true })
})
