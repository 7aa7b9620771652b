// Raw TCP WebSocket clients for overload tests and benchmarks: frames written by hand, and a
// client that upgrades and then never reads.
import { connect } from 'node:net'
import { randomBytes } from 'node:crypto'

/** A masked binary WebSocket frame holding `payload`, as a client sends it. */
export function clientFrame (payload) {
  const mask = randomBytes(4)
  const length = payload.length
  const header = length < 126
    ? Buffer.from([0x82, 0x80 | length])
    : Buffer.from([0x82, 0x80 | 126, length >> 8, length & 0xff])
  const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]))
  return Buffer.concat([header, mask, masked])
}

/** A TCP client that completes the WebSocket upgrade to `path` (sends `opening`, if any, as its
 *  first message) and then never reads again. */
export async function stalledReader (server, path, opening = null) {
  const { hostname, port } = new URL(server.url)
  const socket = connect(Number(port), hostname)
  socket.setNoDelay(true)
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.write([`GET ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', '', ''].join('\r\n'))
  await new Promise((resolve) => {
    let answer = ''
    const onData = (chunk) => {
      answer += chunk.toString('latin1')
      if (answer.includes('\r\n\r\n')) { socket.off('data', onData); resolve() }
    }
    socket.on('data', onData)
  })
  if (opening !== null) socket.write(clientFrame(opening))
  socket.pause()
  return socket
}
