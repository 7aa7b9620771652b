// Starts @hocuspocus/server with its default configuration on 127.0.0.1:PORT for
// bench/compare.sh: `node hocuspocus-server.mjs PORT`.
//
// Default settings: no extensions (so no persistence, no throttle), no auth hook, debounce and
// timeouts as shipped. Two deliberate departures, neither on the message path:
// - `quiet: true` replaces the start screen with one ready line.
// - We call `httpServer.listen` ourselves with `host: '127.0.0.1'`: `Server.listen` passes
//   `{ port, address }` to Node's `listen`, which ignores `address` and binds every interface.
//   It is the same http.Server and WebSocketServer that `Server.listen` would use.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Server } from '@hocuspocus/server'

const port = Number.parseInt(process.argv[2] ?? '', 10)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node hocuspocus-server.mjs PORT')
  process.exit(2)
}

const require = createRequire(import.meta.url)
// The package's exports map hides package.json; read it next to the resolved entry point.
const entry = fileURLToPath(import.meta.resolve('@hocuspocus/server'))
const { version } = JSON.parse(readFileSync(new URL('../package.json', `file://${entry}`), 'utf8'))
const { version: yjsVersion } = require('yjs/package.json')

const server = new Server({ quiet: true, port, address: '127.0.0.1' })

const stop = async () => {
  await server.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

server.httpServer.listen({ port, host: '127.0.0.1' }, () => {
  console.log(`@hocuspocus/server ${version} (yjs ${yjsVersion}), no persistence: running at '127.0.0.1' on port ${port}`)
})
