// Rebuilds a directory as a power cut would leave it, from the journal journal.c wrote while a
// process ran on it: only what Linux promises to keep survives, everything else is undone.
//
// The model (docs/architecture.md, "The power-cut test"), applied to the journal's order:
// - A file's data and size change by write/pwrite/pwritev/writev, ftruncate and fallocate.
// - fsync or fdatasync on a file makes durable every change journaled before the call began,
//   and the size the file had then; it counts once it has returned.
// - sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER) makes durable the bytes of earlier writes
//   inside its range, but only inside the file's durable size: it never changes that size.
//   Other flag combinations promise nothing.
// - A name (created, renamed, removed) in a directory is durable once an fsync of that directory
//   has returned, having begun after the change. Each directory counts on its own, so a rename
//   between two directories is durable in each only after each is synced.
// - The image holds what is reachable from the root through durable names: a file whose name
//   was never made durable is gone with whatever of its data was synced; a file whose name is
//   durable but whose data never was is there, empty. A file reachable by a durable name keeps
//   its durable data even if a later (undone) unlink removed the name.
// The journal must start on an empty root directory, whose own existence counts as durable.
import { readFileSync, mkdirSync, writeFileSync, readdirSync, lstatSync } from 'node:fs'
import { join } from 'node:path'

const OP = {
  ROOT: 1, WRITE: 2, TRUNCATE: 3, FALLOCATE: 4, CREATE: 5, MKDIR: 6, RENAME: 7, REMOVE: 8,
  SYNC_BEGIN: 9, SYNC_END: 10, UNSUPPORTED: 11
}
const HEADER_BYTES = 64
const FALLOC_FL_KEEP_SIZE = 1
const SYNC_FILE_RANGE_FOR_DATA = 1 | 2 | 4 // WAIT_BEFORE | WRITE | WAIT_AFTER
const RENAME_NOREPLACE = 1

/** The journal's records, in order. A record torn by kill -9 (the last one) is left out. */
export function readJournal (path) {
  const bytes = readFileSync(path)
  const records = []
  let at = 0
  while (at + HEADER_BYTES <= bytes.length) {
    const size = bytes.readUInt32LE(at)
    if (size < HEADER_BYTES || at + size > bytes.length) break
    const number = (offset) => Number(bytes.readBigUInt64LE(at + offset))
    const nameLength = bytes.readUInt32LE(at + 56)
    const name2Length = bytes.readUInt32LE(at + 60)
    const nameAt = at + HEADER_BYTES
    records.push({
      op: bytes.readUInt32LE(at + 4),
      ino: number(8),
      dir: number(16),
      a: number(24),
      b: number(32),
      c: number(40),
      d: number(48),
      name: bytes.toString('utf8', nameAt, nameAt + nameLength),
      name2: bytes.toString('utf8', nameAt + nameLength, nameAt + nameLength + name2Length),
      data: bytes.subarray(nameAt + nameLength + name2Length, at + size)
    })
    at += size
  }
  return records
}

/** Files and directories as the journal left them, each with what its syncs made durable. */
function replay (records) {
  if (records[0]?.op !== OP.ROOT) throw new Error('the journal does not start with its root')
  const nodes = new Map() // inode -> the file or directory that has it now
  const newNode = (ino, isDir) => {
    const node = { ino, isDir, links: 0, size: 0, changes: [], rangeSyncs: [], syncedBefore: -1, syncedSize: 0 }
    if (isDir) node.entries = new Map()
    nodes.set(ino, node)
    return node
  }
  const root = newNode(records[0].ino, true)
  root.links = 1
  const pending = new Map()
  const known = (ino, what) => {
    const node = nodes.get(ino)
    if (!node) throw new Error(`${what} on inode ${ino}, which the journal never saw created`)
    return node
  }
  const directory = (ino) => {
    const node = known(ino, 'a name change')
    if (!node.isDir) throw new Error(`inode ${ino} is not a directory`)
    return node
  }
  const link = (seq, dir, name, node) => {
    const replaced = dir.entries.get(name)
    if (replaced) replaced.links--
    dir.entries.set(name, node)
    dir.changes.push({ seq, name, node })
    node.links++
  }
  const unlink = (seq, dir, name, ino) => {
    const node = dir.entries.get(name)
    if (node?.ino !== ino) throw new Error(`${name} is not inode ${ino} in the journal's view`)
    dir.entries.delete(name)
    dir.changes.push({ seq, name, node: null })
    node.links--
  }
  const fresh = (record, isDir) => {
    const reused = nodes.get(record.ino)
    if (reused?.links > 0) throw new Error(`hard link to inode ${record.ino} (not modelled)`)
    return newNode(record.ino, isDir)
  }
  records.forEach((record, seq) => {
    switch (record.op) {
      case OP.ROOT:
        if (seq !== 0) throw new Error('a second root record: two processes wrote one journal')
        break
      case OP.WRITE: {
        const file = known(record.ino, 'write')
        file.changes.push({ seq, write: record.data, at: record.a })
        file.size = Math.max(file.size, record.a + record.data.length)
        break
      }
      case OP.TRUNCATE: {
        const file = known(record.ino, 'truncate')
        file.changes.push({ seq, size: record.a })
        file.size = record.a
        break
      }
      case OP.FALLOCATE: {
        const file = known(record.ino, 'fallocate')
        if (record.c & ~FALLOC_FL_KEEP_SIZE) throw new Error(`fallocate mode ${record.c} is not modelled`)
        if (!(record.c & FALLOC_FL_KEEP_SIZE) && record.a + record.b > file.size) {
          file.size = record.a + record.b
          file.changes.push({ seq, size: file.size })
        }
        break
      }
      case OP.CREATE: {
        const dir = directory(record.dir)
        const existing = dir.entries.get(record.name)
        if (existing && existing.ino !== record.ino) throw new Error(`${record.name} changed inode behind the journal`)
        if (existing && record.a) {
          existing.changes.push({ seq, size: 0 })
          existing.size = 0
        }
        if (!existing) link(seq, dir, record.name, fresh(record, false))
        break
      }
      case OP.MKDIR:
        link(seq, directory(record.dir), record.name, fresh(record, true))
        break
      case OP.RENAME: {
        const from = directory(record.dir)
        const to = directory(record.a)
        if (from === to && record.name === record.name2) break
        const node = from.entries.get(record.name)
        if (node?.ino !== record.ino) throw new Error(`rename of ${record.name}: not inode ${record.ino} in the journal's view`)
        if ((record.c & RENAME_NOREPLACE) && to.entries.has(record.name2)) throw new Error('RENAME_NOREPLACE replaced a name')
        unlink(seq, from, record.name, record.ino)
        link(seq, to, record.name2, node)
        break
      }
      case OP.REMOVE:
        unlink(seq, directory(record.dir), record.name, record.ino)
        break
      case OP.SYNC_BEGIN: {
        const node = known(record.ino, 'sync')
        pending.set(record.a, { node, seq, kind: record.b, from: record.c, length: record.d, flags: record.dir, size: node.size })
        break
      }
      case OP.SYNC_END: {
        const sync = pending.get(record.a)
        if (!sync) throw new Error(`sync ${record.a} ended without beginning`)
        pending.delete(record.a)
        const { node } = sync
        if (sync.kind === 3) {
          const forData = (sync.flags & SYNC_FILE_RANGE_FOR_DATA) === SYNC_FILE_RANGE_FOR_DATA
          const end = sync.length === 0 ? Infinity : sync.from + sync.length
          if (forData && !node.isDir) node.rangeSyncs.push({ seq: sync.seq, from: sync.from, end })
        } else if (sync.seq > node.syncedBefore) {
          node.syncedBefore = sync.seq
          node.syncedSize = sync.size
        }
        break
      }
      case OP.UNSUPPORTED:
        throw new Error(`the process used ${record.name} on the data directory, which the model does not cover`)
      default:
        throw new Error(`unknown journal record ${record.op}`)
    }
  })
  return root
}

/** A file's bytes: all of them, or only what its syncs made durable. */
function contents (file, everything) {
  const syncedBefore = everything ? Infinity : file.syncedBefore
  let bytes = Buffer.alloc(0)
  const resize = (size) => {
    if (size <= bytes.length) bytes = bytes.subarray(0, size)
    else bytes = Buffer.concat([bytes, Buffer.alloc(size - bytes.length)])
  }
  const put = (data, at) => {
    if (at + data.length > bytes.length) resize(at + data.length)
    data.copy(bytes, at)
  }
  for (const change of file.changes) {
    const whole = change.seq < syncedBefore
    if (change.size !== undefined) {
      if (whole) resize(change.size)
    } else if (whole) {
      put(change.write, change.at)
    } else {
      for (const range of file.rangeSyncs) {
        if (range.seq < change.seq) continue
        const from = Math.max(range.from, change.at)
        const end = Math.min(range.end, change.at + change.write.length)
        if (from < end) put(change.write.subarray(from - change.at, end - change.at), from)
      }
    }
  }
  resize(everything ? file.size : file.syncedSize)
  return bytes
}

/** A directory's names: all of them, or only the durable ones (unless namesAlwaysDurable). */
function names (dir, everything) {
  if (everything) return new Map(dir.entries)
  const durable = new Map()
  for (const change of dir.changes) {
    if (change.seq >= dir.syncedBefore) break
    if (change.node) durable.set(change.name, change.node)
    else durable.delete(change.name)
  }
  return durable
}

/**
 * Writes into `target` (an empty directory) the root as the journal at `journalPath` left it:
 * with `{ everything: true }` every change counts (the directory as a graceful stop left it, to
 * check the journal missed nothing); otherwise only what a power cut at the journal's end keeps.
 * `namesAlwaysDurable` counts every name change as durable at once, to tell data losses from
 * name losses when diagnosing. Returns the files written, each with its size in the image and
 * its size when cut.
 */
export function buildImage (journalPath, target, { everything = false, namesAlwaysDurable = false } = {}) {
  const root = replay(readJournal(journalPath))
  const written = []
  const visit = (dir, path, seen) => {
    for (const [name, node] of names(dir, everything || namesAlwaysDurable)) {
      if (seen.has(node)) throw new Error(`directory ${path}/${name} reached twice`)
      const at = join(path, name)
      if (node.isDir) {
        mkdirSync(at)
        visit(node, at, new Set([...seen, node]))
      } else {
        const bytes = contents(node, everything)
        writeFileSync(at, bytes)
        written.push({ path: at, size: bytes.length, sizeAtCut: node.size })
      }
    }
  }
  visit(root, target, new Set([root]))
  return written
}

/** Every way the trees at `a` and `b` differ (names, kinds, bytes); empty if identical. */
export function treeDifferences (a, b, path = '') {
  const differences = []
  const left = readdirSync(join(a, path)).sort()
  const right = readdirSync(join(b, path)).sort()
  for (const name of new Set([...left, ...right])) {
    const entry = join(path, name)
    if (!left.includes(name) || !right.includes(name)) {
      differences.push(`${entry}: only in ${left.includes(name) ? a : b}`)
      continue
    }
    const [statA, statB] = [lstatSync(join(a, entry)), lstatSync(join(b, entry))]
    if (statA.isDirectory() !== statB.isDirectory()) differences.push(`${entry}: a directory in one only`)
    else if (statA.isDirectory()) differences.push(...treeDifferences(a, b, entry))
    else if (!readFileSync(join(a, entry)).equals(readFileSync(join(b, entry)))) {
      differences.push(`${entry}: ${statA.size} bytes and ${statB.size} bytes, contents differ`)
    }
  }
  return differences
}
