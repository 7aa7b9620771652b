// Quire on PostgreSQL (`--store postgres://…`, issue #16): stock y-websocket clients against the
// real binary and a real PostgreSQL server started by the test (tests/js/postgres.mjs).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startQuire, connectProvider, synced, docSatisfies, within, until, readiness, storedText } from './harness.mjs'
import { startPostgres } from './postgres.mjs'

const STORAGE_UNAVAILABLE = 4503

let postgres
before(async () => { postgres = await startPostgres() })
after(() => postgres?.destroy())

/** Types `count` edits on `writer`, each awaited at `reader`: everything typed was shown. */
async function typeShown (writer, reader, count, prefix) {
  for (let index = 0; index < count; index++) {
    writer.text.insert(writer.text.length, `${prefix}${index};`)
    const expected = writer.text.toString()
    await within(docSatisfies(reader.doc, () => reader.text.toString() === expected), 10000, `edit ${index} at the reader`)
  }
  return reader.text.toString()
}

/** Every edit a client was shown is in PostgreSQL when the server is killed with SIGKILL. */
test('documents stored in PostgreSQL survive kill -9 of the server', async (t) => {
  const url = postgres.createDatabase()
  let server = await startQuire(['--store', url])
  t.after(() => server.stop())
  const writer = connectProvider(server, 'kept')
  const reader = connectProvider(server, 'kept')
  await within(Promise.all([synced(writer.provider), synced(reader.provider)]), 10000, 'sync')
  const shown = await typeShown(writer, reader, 200, 'w')
  writer.close()
  reader.close()

  await server.crash()
  server = await startQuire(['--store', url])
  assert.equal(await storedText(server, 'kept'), shown)
  const listed = await (await fetch(`${server.url}/api/docs`)).json()
  assert.deepEqual(listed.map((document) => document.id), ['kept'])
})

/** PostgreSQL going away refuses edits with 4503 and a reason; its return resumes them, no restart. */
test('PostgreSQL stopped mid-edit: edits refused with 4503, taken again once it is back', async (t) => {
  const url = postgres.createDatabase()
  const server = await startQuire(['--store', url])
  t.after(() => server.stop())
  const writer = connectProvider(server, 'outage')
  const reader = connectProvider(server, 'outage')
  t.after(() => { writer.close(); reader.close() })
  await within(Promise.all([synced(writer.provider), synced(reader.provider)]), 10000, 'sync')
  await typeShown(writer, reader, 20, 'before')

  const refusal = new Promise((resolve) => writer.provider.on('connection-close', (event) => {
    if (event?.code === STORAGE_UNAVAILABLE) resolve(event.reason)
  }))
  await postgres.stop()
  writer.text.insert(writer.text.length, 'typed while the database was down;')
  const reason = await within(refusal, 20000, 'the writer to be closed with 4503')
  assert.match(reason, /storage unavailable/)
  const ready = await readiness(server)
  assert.equal(ready.status, 503)
  assert.match(JSON.parse(ready.body).error, /database is unreachable/)
  assert.match(await (await fetch(`${server.url}/metrics`)).text(), /quire_storage_errors_total\{kind="unreachable"\} [1-9]/)
  assert.match(await (await fetch(`${server.url}/metrics`)).text(), /quire_storage_up 0/)

  await postgres.start()
  await within(until(async () => (await readiness(server)).status === 200), 20000, '/readyz to answer 200 again')
  const everything = writer.text.toString()
  await within(docSatisfies(reader.doc, () => reader.text.toString() === everything), 20000,
    'what was typed during the outage to reach the reader')
  assert.match(server.log(), /the database answers again/)
  await server.stop()

  const again = await startQuire(['--store', url])
  t.after(() => again.stop())
  assert.equal(await storedText(again, 'outage'), everything, 'everything shown is stored')
})

/** A store URL that cannot be reached stops `quire serve` at start, naming it without its password. */
test('an unreachable database stops the server at start with a clear error', async () => {
  const url = `postgres://postgres:hunter2@127.0.0.1:${postgres.port + 1}/nowhere`
  await assert.rejects(startQuire(['--store', url]), (error) => {
    assert.match(error.message, /exited with 1/)
    assert.match(error.message, /postgres/)
    assert.doesNotMatch(error.message, /hunter2/, 'the password is not logged')
    return true
  })
})

/** Relaxed durability leaves flushing to sled's timer; on PostgreSQL it is refused at start. */
test('--durability relaxed is refused with a PostgreSQL store', async () => {
  const url = postgres.createDatabase()
  await assert.rejects(startQuire(['--store', url, '--durability', 'relaxed']), /relaxed needs --store sled/)
})
