// Starts the stock @y/websocket-server (the `y-websocket` bin, src/server.js) on 127.0.0.1:PORT
// for bench/compare.sh: `node y-websocket-server.mjs PORT`.
//
// The bin reads HOST and PORT from the environment, so this script sets them and imports the
// package's own server.js (by file path: the package's exports map does not expose it). That
// keeps every setting at the package's default: in-memory documents (no YPERSISTENCE), gc on,
// no callback, the package's own `ws` (6.x). The bin prints "running at '127.0.0.1' on port N"
// once it listens; compare.sh also waits for the port to accept connections.
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'

const port = Number.parseInt(process.argv[2] ?? '', 10)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node y-websocket-server.mjs PORT')
  process.exit(2)
}
process.env.HOST = '127.0.0.1'
process.env.PORT = String(port)
delete process.env.YPERSISTENCE
delete process.env.CALLBACK_URL

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(here, 'package.json'))
const packageJson = require.resolve('@y/websocket-server/package.json')
const { version } = require('@y/websocket-server/package.json')
const { version: yjsVersion } = require('yjs/package.json')
console.log(`@y/websocket-server ${version} (yjs ${yjsVersion}), no persistence`)

// A benchmark stops the server with SIGTERM; exit at once (there is nothing to flush).
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))

await import(join(dirname(packageJson), 'src', 'server.js'))
