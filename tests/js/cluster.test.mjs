// Several Quire nodes sharing documents (`--store postgres://… --cluster redis://…`, issue #16):
// real PostgreSQL and Redis servers started by the test, three `quire` processes, stock
// y-websocket and Hocuspocus clients spread over the nodes, some through a load balancer.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startQuire, connectProvider, synced, docSatisfies, awarenessSatisfies, within, until, readiness, storedText, connectHocuspocus } from './harness.mjs'
import { startPostgres } from './postgres.mjs'
import { startRedis } from './redis.mjs'
import { startBalancer } from './balancer.mjs'

let postgres
let redis
before(async () => {
  postgres = await startPostgres()
  redis = await startRedis()
})
after(async () => {
  await redis?.destroy()
  await postgres?.destroy()
})

/** Three nodes on a fresh database and the shared Redis; stopped after the test. */
async function startNodes (t, count = 3) {
  const store = postgres.createDatabase()
  const nodes = []
  for (let index = 0; index < count; index++) {
    nodes.push(await startQuire(['--store', store, '--cluster', redis.url]))
  }
  t.after(() => Promise.all(nodes.map((node) => node.stop())))
  // A node reaches the others once its link is up (it answers /readyz 200 then).
  await within(Promise.all(nodes.map((node) => until(async () => (await readiness(node)).status === 200))),
    20000, 'every node to be ready')
  return { store, nodes }
}

const converged = (clients, expected) => Promise.all(clients.map((client) =>
  docSatisfies(client.doc, () => client.text.toString() === expected)))

/** Every client's text, once they all agree. */
async function agreedText (clients, what) {
  await within(until(() => new Set(clients.map((client) => client.text.toString())).size === 1), 20000, what)
  return clients[0].text.toString()
}

/** Clients of one document on three nodes, over both protocols, see each other's edits and presence. */
test('y-websocket and Hocuspocus clients spread over three nodes converge, presence included', async (t) => {
  const { nodes } = await startNodes(t)
  const alice = connectProvider(nodes[0], 'shared')
  const bob = connectProvider(nodes[1], 'shared')
  const carol = connectHocuspocus(nodes[2], 'shared')
  t.after(() => [alice, bob, carol].forEach((client) => client.close()))
  await within(Promise.all([synced(alice.provider), synced(bob.provider), carol.synced]), 10000, 'sync')

  alice.text.insert(0, 'alice;')
  await within(converged([bob, carol], 'alice;'), 10000, "alice's edit on nodes 2 and 3")
  bob.text.insert(bob.text.length, 'bob;')
  carol.text.insert(carol.text.length, 'carol;')
  const text = await agreedText([alice, bob, carol], 'the three clients to agree')
  for (const part of ['alice;', 'bob;', 'carol;']) assert.ok(text.includes(part), text)

  alice.provider.awareness.setLocalStateField('user', { name: 'alice' })
  const seesAlice = (awareness) => [...awareness.getStates().values()].some((state) => state.user?.name === 'alice')
  await within(awarenessSatisfies(bob.provider.awareness, () => seesAlice(bob.provider.awareness)), 10000,
    "alice's presence on node 2")
  await within(awarenessSatisfies(carol.provider.awareness, () => seesAlice(carol.provider.awareness)), 10000,
    "alice's presence on node 3, over Hocuspocus")

  // A joiner on another node is shown who is already there.
  const dave = connectProvider(nodes[2], 'shared')
  t.after(() => dave.close())
  await within(synced(dave.provider), 10000, 'dave to sync')
  await within(awarenessSatisfies(dave.provider.awareness, () => seesAlice(dave.provider.awareness)), 10000,
    "alice's presence for a joiner of node 3")
  assert.equal(dave.text.toString(), text)

  const metrics = await (await fetch(`${nodes[1].url}/metrics`)).text()
  assert.match(metrics, /quire_cluster_link_up 1/)
  assert.match(metrics, /quire_cluster_received_total\{type="update"\} [1-9]/)
})

/** A node killed mid-edit loses nothing shown; its clients move on; its presences vanish from the others. */
test('kill -9 of a node: clients reconnect elsewhere, nothing shown is lost, its presences go within the TTL', async (t) => {
  const { nodes } = await startNodes(t)
  const balancer = await startBalancer(nodes.map((node) => Number(new URL(node.url).port)))
  t.after(() => balancer.close())
  // The writer reaches node 1 through the balancer (its first connection goes there).
  const writer = connectProvider(balancer, 'survivor')
  const watcher = connectProvider(nodes[1], 'survivor')
  const ghost = connectProvider(nodes[0], 'survivor')
  t.after(() => [writer, watcher, ghost].forEach((client) => client.close()))
  await within(Promise.all([writer, watcher, ghost].map(({ provider }) => synced(provider))), 10000, 'sync')
  ghost.provider.awareness.setLocalStateField('user', { name: 'ghost' })
  const seesGhost = () => [...watcher.provider.awareness.getStates().values()].some((state) => state.user?.name === 'ghost')
  await within(awarenessSatisfies(watcher.provider.awareness, seesGhost), 10000, "the ghost's presence on node 2")

  let shown = ''
  for (let index = 0; index < 30; index++) {
    writer.text.insert(writer.text.length, `${index};`)
    const expected = writer.text.toString()
    await within(docSatisfies(watcher.doc, () => watcher.text.toString() === expected), 10000, `edit ${index} on node 2`)
    shown = expected
  }
  await nodes[0].crash()
  const killedAt = Date.now()
  ghost.provider.shouldConnect = false // the ghost's user went away with the node

  // The watcher stops showing the ghost well before y-protocols' own 30 s timeout.
  await within(awarenessSatisfies(watcher.provider.awareness, () => !seesGhost()), 15000,
    "the ghost's presence to vanish from node 2")
  assert.ok(Date.now() - killedAt < 12000, `gone after ${Date.now() - killedAt} ms`)

  // The writer's provider reconnects through the balancer to a live node and goes on.
  writer.text.insert(writer.text.length, 'after;')
  const everything = writer.text.toString()
  await within(docSatisfies(watcher.doc, () => watcher.text.toString() === everything), 20000,
    "the writer's edit after the kill, from its new node")
  assert.ok(everything.startsWith(shown))
  assert.equal(await storedText(nodes[2], 'survivor'), everything, 'a fresh client of node 3 holds everything')
})

/** Redis going away splits the nodes; its return brings every client to the same document. */
test('Redis restarted mid-edit: every client converges afterwards', async (t) => {
  const { nodes } = await startNodes(t, 2)
  const alice = connectProvider(nodes[0], 'split')
  const bob = connectProvider(nodes[1], 'split')
  t.after(() => [alice, bob].forEach((client) => client.close()))
  await within(Promise.all([synced(alice.provider), synced(bob.provider)]), 10000, 'sync')
  alice.text.insert(0, 'together;')
  await within(converged([bob], 'together;'), 10000, 'the first edit on node 2')

  await redis.stop()
  await within(until(async () => (await readiness(nodes[0])).status === 503), 10000, 'node 1 to report its link down')
  const ready = JSON.parse((await readiness(nodes[0])).body)
  assert.equal(ready.code, 'cluster_unavailable')
  assert.match(await (await fetch(`${nodes[0].url}/metrics`)).text(), /quire_cluster_link_up 0/)
  // Each node keeps serving its own clients.
  alice.text.insert(alice.text.length, 'alice alone;')
  bob.text.insert(bob.text.length, 'bob alone;')
  const third = connectProvider(nodes[0], 'split')
  t.after(() => third.close())
  await within(docSatisfies(third.doc, () => third.text.toString().includes('alice alone;')), 10000,
    "alice's edit for another client of node 1")

  await redis.start()
  await within(Promise.all(nodes.map((node) => until(async () => (await readiness(node)).status === 200))), 20000,
    'both links to come back')
  const text = await agreedText([alice, bob, third], 'every client to converge after Redis is back')
  for (const part of ['together;', 'alice alone;', 'bob alone;']) assert.ok(text.includes(part), text)
})

/** A node without --cluster cannot share a database with a cluster, nor with another such node. */
test('a node outside the cluster is refused the cluster database, and a second lone node too', async (t) => {
  const { store } = await startNodes(t, 1)
  await assert.rejects(startQuire(['--store', store]), /a Quire node|in use/)
  const alone = postgres.createDatabase()
  const first = await startQuire(['--store', alone])
  t.after(() => first.stop())
  await assert.rejects(startQuire(['--store', alone]), /another Quire node uses this database/)
  await assert.rejects(startQuire(['--store', alone, '--cluster', redis.url]), /without --cluster/)
})

/** Versions, restores and deletes made through one node reach the clients and API of the others. */
test('versions kept on one node are seen on another; a restore and a delete reach every node', async (t) => {
  const { nodes } = await startNodes(t, 2)
  const bob = connectProvider(nodes[1], 'versioned')
  t.after(() => bob.close())
  await within(synced(bob.provider), 10000, 'sync')
  bob.text.insert(0, 'first draft')
  await within(until(async () => (await (await fetch(`${nodes[0].url}/api/docs/versioned/snapshot?format=text`)).text()) === 'first draft'),
    10000, "bob's text through node 1's API")
  const kept = await fetch(`${nodes[0].url}/api/docs/versioned/versions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'draft' })
  })
  assert.equal(kept.status, 201)
  const listed = await (await fetch(`${nodes[1].url}/api/docs/versioned/versions`)).json()
  assert.deepEqual(listed.map((version) => version.label), ['draft'])

  bob.text.insert(bob.text.length, ', then rewritten')
  await within(until(async () => (await (await fetch(`${nodes[0].url}/api/docs/versioned/snapshot?format=text`)).text()).endsWith('rewritten')),
    10000, "bob's rewrite through node 1's API")
  const restored = await fetch(`${nodes[0].url}/api/docs/versioned/versions/1/restore`, { method: 'POST' })
  assert.equal(restored.status, 200)
  await within(docSatisfies(bob.doc, () => bob.text.toString() === 'first draft'), 10000,
    'the restore made on node 1 to reach bob on node 2')

  const closed = new Promise((resolve) => bob.provider.on('connection-close', (event) => resolve(event?.code)))
  const deleted = await fetch(`${nodes[0].url}/api/docs/versioned`, { method: 'DELETE' })
  assert.equal(deleted.status, 204)
  assert.equal(await within(closed, 10000, 'bob to be closed'), 4410, 'document deleted, on the other node too')
})

/** PostgreSQL going away refuses edits on every node; its return resumes them, no restart. */
test('PostgreSQL restarted under a cluster: writes refused with 4503 meanwhile, then everyone converges', async (t) => {
  const { nodes } = await startNodes(t, 2)
  const alice = connectProvider(nodes[0], 'outage')
  const bob = connectProvider(nodes[1], 'outage')
  t.after(() => [alice, bob].forEach((client) => client.close()))
  await within(Promise.all([synced(alice.provider), synced(bob.provider)]), 10000, 'sync')
  alice.text.insert(0, 'before;')
  await within(converged([bob], 'before;'), 10000, 'the first edit on node 2')

  const refused = new Promise((resolve) => alice.provider.on('connection-close', (event) => {
    if (event?.code === 4503) resolve()
  }))
  await postgres.stop()
  alice.text.insert(alice.text.length, 'during;')
  await within(refused, 20000, 'alice to be refused with 4503')
  assert.match(await (await fetch(`${nodes[0].url}/metrics`)).text(), /quire_storage_up 0/)
  await postgres.start()
  await within(Promise.all(nodes.map((node) => until(async () => (await readiness(node)).status === 200))), 20000,
    'both nodes to take writes again')
  const text = await agreedText([alice, bob], 'both clients to converge')
  assert.equal(text, 'before;during;')
  assert.equal(await storedText(nodes[1], 'outage'), text)
})
