// Durability: what a client has seen from the server survives restarts and kill -9.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startQuire, connectProvider, synced, docSatisfies, quireBin } from './harness.mjs'

const freshDir = () => mkdtempSync(join(tmpdir(), 'quire-durability-'))

/** Reads a room's text right at its first sync: it must already be whole, never fill in later. */
async function textAtFirstSync (server, room) {
  const reader = connectProvider(server, room)
  await synced(reader.provider)
  const text = reader.text.toString()
  reader.close()
  return text
}

/** Edits survive a graceful stop and restart, and a reconnecting client sees them at its first sync. */
test('restart: write, stop, restart, read back', async () => {
  const dataDir = freshDir()
  let server = await startQuire([], { dataDir })
  const writer = connectProvider(server, 'restart')
  await synced(writer.provider)
  writer.text.insert(0, 'kept across restarts')
  writer.doc.getMap('meta').set('owner', 'ada')
  const observer = connectProvider(server, 'restart')
  await docSatisfies(observer.doc, () => observer.text.toString() === 'kept across restarts')
  writer.close()
  observer.close()
  assert.equal((await server.stop()).code, 0)

  server = await startQuire([], { dataDir })
  const reader = connectProvider(server, 'restart')
  await synced(reader.provider)
  assert.equal(reader.text.toString(), 'kept across restarts', 'whole at the first sync')
  assert.equal(reader.doc.getMap('meta').get('owner'), 'ada')
  reader.close()
  await server.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

/** Every edit another client observed is present after kill -9, over several crash cycles. */
test('crash: observed edits survive kill -9, cycle after cycle', async () => {
  const dataDir = freshDir()
  const rooms = ['crash-a', 'crash-b', 'crash-c']
  const observed = new Map(rooms.map((room) => [room, []]))
  for (let cycle = 0; cycle < 4; cycle++) {
    const server = await startQuire([], { dataDir })
    const clients = []
    for (const room of rooms) {
      const writer = connectProvider(server, room)
      const observer = connectProvider(server, room)
      clients.push(writer, observer)
      await Promise.all([synced(writer.provider), synced(observer.provider)])
      // Everything observed in earlier cycles is there before this cycle writes anything.
      for (const piece of observed.get(room)) assert.ok(writer.text.toString().includes(piece), `${room} kept ${piece}`)
      const pieces = Array.from({ length: 20 }, (_, edit) => `<${cycle}.${edit}>`)
      for (const piece of pieces) writer.text.insert(writer.text.length, piece)
      await docSatisfies(observer.doc, () => pieces.every((piece) => observer.text.toString().includes(piece)))
      observed.get(room).push(...pieces)
    }
    const { signal } = await server.crash()
    assert.equal(signal, 'SIGKILL')
    clients.forEach((client) => client.close())
  }
  const server = await startQuire([], { dataDir })
  for (const room of rooms) {
    const text = await textAtFirstSync(server, room)
    for (const piece of observed.get(room)) assert.ok(text.includes(piece), `${room} holds ${piece} after the crashes`)
    assert.equal(text.length, observed.get(room).join('').length, 'nothing doubled')
  }
  await server.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

/** A second server on a data dir that a running one holds fails at once with a clear message. */
test('a held data dir is refused at once, not waited on', async () => {
  const server = await startQuire()
  const second = spawn(quireBin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', server.dataDir], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  second.stdout.on('data', (chunk) => { output += chunk })
  second.stderr.on('data', (chunk) => { output += chunk })
  const code = await new Promise((resolve) => second.once('exit', resolve))
  assert.notEqual(code, 0, 'the second server does not start')
  assert.match(output, /data directory/i)
  assert.match(output, /in use|locked|another process/i)
  // The first server is unaffected.
  const client = connectProvider(server, 'still-serving')
  await synced(client.provider)
  client.close()
  await server.stop()
})
