// A real Redis server (Debian's `redis-server`) for the multi-node tests, on a free port, with no
// persistence: the nodes keep nothing in it that must survive a restart, which is what the tests
// do to it mid-edit (SIGKILL: gone at once, as a crashed Redis would be).
import { execFileSync } from 'node:child_process'
import { freePort, restartableProcess } from './services.mjs'

/** Starts redis-server; resolves once it accepts connections. */
export async function startRedis () {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' })
  } catch {
    throw new Error('redis-server is not installed: scripts/test.sh installs it')
  }
  const port = await freePort()
  const redis = restartableProcess('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no'
  ], { readyLine: 'Ready to accept connections', stopSignal: 'SIGKILL' })
  await redis.start()
  return { url: `redis://127.0.0.1:${port}`, ...redis }
}
