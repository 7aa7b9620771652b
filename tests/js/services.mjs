// Real servers the tests start themselves (PostgreSQL, Redis): a free port to give them, and a
// process that can be stopped and started again on it, ready when its own log says so (an event
// to await, not a guess of time). A test process that exits takes its servers down with it.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'

/** A TCP port nothing listens on now. */
export async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * `command args`, restartable: `start()` resolves once its output shows `readyLine`; `stop()`
 * sends `stopSignal` and waits for it to exit. `options` go to `spawn` (a uid and gid, say).
 */
export function restartableProcess (command, args, { readyLine, stopSignal, options = {} }) {
  let child = null
  let log = ''
  const start = async () => {
    child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
    const started = log.length
    const ready = new Promise((resolve, reject) => {
      const onData = (chunk) => {
        log += chunk
        if (log.slice(started).includes(readyLine)) resolve()
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      child.once('exit', (code) => reject(new Error(`${command} exited with ${code} while starting:\n${log.slice(started)}`)))
    })
    child.exited = new Promise((resolve) => child.once('exit', resolve))
    await ready
  }
  const stop = async () => {
    if (child === null) return
    const running = child
    child = null
    running.kill(stopSignal)
    await running.exited
  }
  const killOnExit = () => child?.kill('SIGKILL')
  process.once('exit', killOnExit)
  return {
    start,
    stop,
    log: () => log,
    /** Stops it for good. */
    async destroy () {
      await stop()
      process.off('exit', killOnExit)
    }
  }
}
