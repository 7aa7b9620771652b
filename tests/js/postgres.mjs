// A real PostgreSQL server for the tests that store documents in it: a fresh cluster made with
// Debian's `initdb` in a temporary directory, listening on 127.0.0.1 on a free port.
//
// PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (which
// Debian's package creates) and its processes run as that user. The server is a direct child of
// the test process, so `stop()` and a test process that exits take it down; `start()` brings it
// back on the same port and data, which is how the tests take the database away mid-edit.
import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, restartableProcess } from './services.mjs'

/** The directory of PostgreSQL's server binaries (Debian keeps them out of PATH). */
function binDirectory () {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  const found = versions.map((version) => join(root, version, 'bin')).find((dir) => existsSync(join(dir, 'initdb')))
  if (!found) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): scripts/test.sh installs it')
  return found
}

/** The uid and gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves. */
function runAs () {
  if (process.getuid() !== 0) return {}
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  return { uid, gid }
}

/** Starts a fresh PostgreSQL cluster; resolves once it accepts connections. */
export async function startPostgres () {
  const bin = binDirectory()
  const user = runAs()
  const directory = mkdtempSync(join(tmpdir(), 'quire-postgres-'))
  if (user.uid !== undefined) chownSync(directory, user.uid, user.gid)
  const data = join(directory, 'data')
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
    { stdio: 'pipe', ...user })
  const port = await freePort()
  // SIGINT: PostgreSQL's fast shutdown; clients are disconnected, nothing committed is lost.
  const server = restartableProcess(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', directory,
    '-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'max_connections=200',
    '-c', 'shared_buffers=32MB'
  ], { readyLine: 'database system is ready to accept connections', stopSignal: 'SIGINT', options: user })
  await server.start()

  let databases = 0
  return {
    port,
    /** A new empty database's URL. */
    createDatabase () {
      const name = `quire_test_${++databases}`
      execFileSync(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name], { stdio: 'pipe' })
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    log: server.log,
    /** Stops the server (clients are disconnected) and waits for it. */
    stop: server.stop,
    /** Starts the stopped server again, on the same port and data. */
    start: server.start,
    /** Stops the server and removes its files. */
    async destroy () {
      await server.destroy()
      rmSync(directory, { recursive: true, force: true })
    }
  }
}
