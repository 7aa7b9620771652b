// A TCP load balancer in front of several Quire nodes, as an operator's nginx or HAProxy would be:
// each new connection goes to the next node in turn, skipping nodes that refuse it, with no
// stickiness. Clients that lose their node reconnect through it and land on a live one.
import { createServer, connect } from 'node:net'

/** Listens on 127.0.0.1:0 and spreads connections over `ports`; resolves once listening. */
export async function startBalancer (ports) {
  let next = 0
  const sockets = new Set()
  const route = (client, attempt = 0) => {
    if (attempt >= ports.length) {
      client.destroy()
      return
    }
    const port = ports[next++ % ports.length]
    const upstream = connect(port, '127.0.0.1')
    let connected = false
    upstream.once('connect', () => {
      connected = true
      client.pipe(upstream)
      upstream.pipe(client)
      client.resume()
      upstream.once('close', () => client.destroy())
      client.once('close', () => upstream.destroy())
    })
    upstream.on('error', () => {
      // A node that refuses the connection is skipped; one that fails later ends it.
      if (connected) client.destroy()
      else route(client, attempt + 1)
    })
    client.on('error', () => upstream.destroy())
    sockets.add(upstream)
    upstream.once('close', () => sockets.delete(upstream))
  }
  const server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client)
    client.once('close', () => sockets.delete(client))
    route(client)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/ws',
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}
