// Shared between journal.c (the journal itself: its records, the files it follows, paths) and
// calls.c (the libc functions it wraps). Everything here is hidden from the preloaded process.
#pragma once
#define _GNU_SOURCE
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

enum op {
  OP_ROOT = 1,    // ino: the root directory
  OP_WRITE,       // ino; a: offset; data: the bytes written
  OP_TRUNCATE,    // ino; a: new length
  OP_FALLOCATE,   // ino; a: offset; b: length; c: mode
  OP_CREATE,      // ino; dir; name; a: 1 if O_TRUNC (open with O_CREAT: new name or existing)
  OP_MKDIR,       // ino; dir; name
  OP_RENAME,      // ino (moved); dir: old parent; a: new parent; c: flags; name: old; name2: new
  OP_REMOVE,      // ino (removed); dir; name (unlink, rmdir)
  OP_SYNC_BEGIN,  // ino; a: sync id; b: 1 fsync, 2 fdatasync, 3 sync_file_range; c, d: range; dir: flags
  OP_SYNC_END,    // ino; a: sync id
  OP_UNSUPPORTED, // ino or dir; name: the call (the replayer refuses a journal holding one)
};

// One journal record: this header (little-endian, 64 bytes), then name, name2 and the data.
struct record {
  uint32_t size, op;
  uint64_t ino, dir, a, b, c, d;
  uint32_t name_len, name2_len;
};

#define INTERNAL __attribute__((visibility("hidden")))

INTERNAL extern pthread_mutex_t journal_lock;
INTERNAL extern int journal_enabled;
INTERNAL void die(const char *what);
INTERNAL void track(uint64_t ino);
INTERNAL uint64_t tracked_fd(int fd, struct stat *st);
INTERNAL uint64_t new_sync_id(void);
INTERNAL void emit(struct record r, const char *name, const char *name2, const struct iovec *data, int count);
INTERNAL void emit_simple(uint32_t op, uint64_t ino, uint64_t a, uint64_t b, uint64_t c);
INTERNAL int absolute(int dirfd, const char *path, char *out);
INTERNAL int under_root(const char *abs, int allow_root);
INTERNAL int split(const char *abs, uint64_t *dir, const char **name);
