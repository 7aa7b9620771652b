// The libc functions journal.c wraps: each makes its system call unchanged and, when it touches
// the root, journals what it did (see journal.c for what the journal promises about order).
#include "journal.h"

static int journaled_open(int dirfd, const char *path, int flags, mode_t mode, int (*call)(int, const char *, int, mode_t)) {
  char abs[PATH_MAX];
  if (!journal_enabled || !absolute(dirfd, path, abs) || !under_root(abs, 1)) return call(dirfd, path, flags, mode);
  if ((flags & O_TMPFILE) == O_TMPFILE) {
    pthread_mutex_lock(&journal_lock);
    emit((struct record){.op = OP_UNSUPPORTED}, "O_TMPFILE", NULL, NULL, 0);
    pthread_mutex_unlock(&journal_lock);
  }
  pthread_mutex_lock(&journal_lock);
  int fd = call(dirfd, path, flags, mode);
  int saved = errno;
  struct stat st;
  if (fd >= 0 && syscall(SYS_fstat, fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
    track(st.st_ino);
    uint64_t dir;
    const char *name;
    if ((flags & O_CREAT) && split(abs, &dir, &name)) {
      emit((struct record){.op = OP_CREATE, .ino = st.st_ino, .dir = dir, .a = !!(flags & O_TRUNC)}, name, NULL, NULL, 0);
    } else if ((flags & O_TRUNC) && S_ISREG(st.st_mode) && (flags & O_ACCMODE) != O_RDONLY) {
      emit_simple(OP_TRUNCATE, st.st_ino, 0, 0, 0);
    }
  }
  pthread_mutex_unlock(&journal_lock);
  errno = saved;
  return fd;
}

static int call_openat(int dirfd, const char *path, int flags, mode_t mode) {
  return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

static mode_t mode_arg(int flags, va_list args) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(args, int) : 0;
}

// glibc's open/open64/openat/openat64 are all the openat system call on x86_64 and aarch64.
#define OPEN_WRAPPER(fn)                                                   \
  int fn(const char *path, int flags, ...) {                               \
    va_list args;                                                          \
    va_start(args, flags);                                                 \
    mode_t mode = mode_arg(flags, args);                                   \
    va_end(args);                                                          \
    return journaled_open(AT_FDCWD, path, flags, mode, call_openat);       \
  }
#define OPENAT_WRAPPER(fn)                                                 \
  int fn(int dirfd, const char *path, int flags, ...) {                    \
    va_list args;                                                          \
    va_start(args, flags);                                                 \
    mode_t mode = mode_arg(flags, args);                                   \
    va_end(args);                                                          \
    return journaled_open(dirfd, path, flags, mode, call_openat);          \
  }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)
int creat(const char *path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char *path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

// Data: the mutex is held across the call; the bytes actually written are journaled.
static ssize_t journaled_write(int fd, const struct iovec *iov, int count, off_t offset, int positional,
                               ssize_t (*call)(int, const struct iovec *, int, off_t)) {
  struct stat st;
  uint64_t ino = tracked_fd(fd, &st);
  if (!ino) return call(fd, iov, count, offset);
  pthread_mutex_lock(&journal_lock);
  ssize_t n = call(fd, iov, count, offset);
  int saved = errno;
  if (n > 0) {
    uint64_t at = positional ? (uint64_t)offset : (uint64_t)lseek(fd, 0, SEEK_CUR) - (uint64_t)n;
    struct iovec parts[IOV_MAX];
    int used = 0;
    for (size_t left = (size_t)n; used < count && left > 0; used++) {
      parts[used] = iov[used];
      if (parts[used].iov_len > left) parts[used].iov_len = left;
      left -= parts[used].iov_len;
    }
    emit((struct record){.op = OP_WRITE, .ino = ino, .a = at}, NULL, NULL, parts, used);
  }
  pthread_mutex_unlock(&journal_lock);
  errno = saved;
  return n;
}

static ssize_t call_writev(int fd, const struct iovec *iov, int count, off_t offset) {
  (void)offset;
  return syscall(SYS_writev, fd, iov, count);
}
static ssize_t call_pwritev(int fd, const struct iovec *iov, int count, off_t offset) {
  return syscall(SYS_pwritev, fd, iov, count, (long)offset, 0L);
}

ssize_t write(int fd, const void *data, size_t length) {
  struct iovec one = {(void *)data, length};
  return journaled_write(fd, &one, 1, 0, 0, call_writev);
}
ssize_t writev(int fd, const struct iovec *iov, int count) { return journaled_write(fd, iov, count, 0, 0, call_writev); }
ssize_t pwrite(int fd, const void *data, size_t length, off_t offset) {
  struct iovec one = {(void *)data, length};
  return journaled_write(fd, &one, 1, offset, 1, call_pwritev);
}
ssize_t pwrite64(int fd, const void *data, size_t length, off_t offset) { return pwrite(fd, data, length, offset); }
ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t offset) {
  return journaled_write(fd, iov, count, offset, 1, call_pwritev);
}
ssize_t pwritev64(int fd, const struct iovec *iov, int count, off_t offset) { return pwritev(fd, iov, count, offset); }
ssize_t pwritev2(int fd, const struct iovec *iov, int count, off_t offset, int flags) {
  if (flags != 0 || offset == -1) {
    struct stat st;
    if (tracked_fd(fd, &st)) {
      pthread_mutex_lock(&journal_lock);
      emit((struct record){.op = OP_UNSUPPORTED, .ino = st.st_ino}, "pwritev2 with flags", NULL, NULL, 0);
      pthread_mutex_unlock(&journal_lock);
    }
    return syscall(SYS_pwritev2, fd, iov, count, (long)offset, 0L, flags);
  }
  return pwritev(fd, iov, count, offset);
}
ssize_t pwritev64v2(int fd, const struct iovec *iov, int count, off_t offset, int flags) {
  return pwritev2(fd, iov, count, offset, flags);
}

// Sizes.
int ftruncate(int fd, off_t length) {
  struct stat st;
  uint64_t ino = tracked_fd(fd, &st);
  if (!ino) return (int)syscall(SYS_ftruncate, fd, length);
  pthread_mutex_lock(&journal_lock);
  int result = (int)syscall(SYS_ftruncate, fd, length);
  int saved = errno;
  if (result == 0) emit_simple(OP_TRUNCATE, ino, (uint64_t)length, 0, 0);
  pthread_mutex_unlock(&journal_lock);
  errno = saved;
  return result;
}
int ftruncate64(int fd, off_t length) { return ftruncate(fd, length); }
int truncate(const char *path, off_t length) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int result = ftruncate(fd, length), saved = errno;
  syscall(SYS_close, fd);
  errno = saved;
  return result;
}
int truncate64(const char *path, off_t length) { return truncate(path, length); }

int fallocate(int fd, int mode, off_t offset, off_t length) {
  struct stat st;
  uint64_t ino = tracked_fd(fd, &st);
  if (!ino) return (int)syscall(SYS_fallocate, fd, mode, offset, length);
  pthread_mutex_lock(&journal_lock);
  int result = (int)syscall(SYS_fallocate, fd, mode, offset, length);
  int saved = errno;
  if (result == 0) emit_simple(OP_FALLOCATE, ino, (uint64_t)offset, (uint64_t)length, (uint64_t)mode);
  pthread_mutex_unlock(&journal_lock);
  errno = saved;
  return result;
}
int fallocate64(int fd, int mode, off_t offset, off_t length) { return fallocate(fd, mode, offset, length); }
int posix_fallocate(int fd, off_t offset, off_t length) {
  // glibc falls back to writing zeros where fallocate is unsupported; tmpfs/ext4/xfs support it.
  int result = fallocate(fd, 0, offset, length);
  return result == 0 ? 0 : errno;
}
int posix_fallocate64(int fd, off_t offset, off_t length) { return posix_fallocate(fd, offset, length); }

// Durability calls.
static int journaled_sync(int fd, uint64_t kind, uint64_t offset, uint64_t length, unsigned flags,
                          long (*call)(int, uint64_t, uint64_t, unsigned)) {
  struct stat st;
  uint64_t ino = tracked_fd(fd, &st);
  if (!ino) return (int)call(fd, offset, length, flags);
  pthread_mutex_lock(&journal_lock);
  uint64_t id = new_sync_id();
  emit((struct record){.op = OP_SYNC_BEGIN, .ino = ino, .dir = flags, .a = id, .b = kind, .c = offset, .d = length},
       NULL, NULL, NULL, 0);
  pthread_mutex_unlock(&journal_lock);
  int result = (int)call(fd, offset, length, flags);
  int saved = errno;
  if (result == 0) {
    pthread_mutex_lock(&journal_lock);
    emit_simple(OP_SYNC_END, ino, id, 0, 0);
    pthread_mutex_unlock(&journal_lock);
  }
  errno = saved;
  return result;
}
static long call_fsync(int fd, uint64_t o, uint64_t l, unsigned f) { (void)o, (void)l, (void)f; return syscall(SYS_fsync, fd); }
static long call_fdatasync(int fd, uint64_t o, uint64_t l, unsigned f) { (void)o, (void)l, (void)f; return syscall(SYS_fdatasync, fd); }
static long call_sync_file_range(int fd, uint64_t offset, uint64_t length, unsigned flags) {
  return syscall(SYS_sync_file_range, fd, (off_t)offset, (off_t)length, flags);
}
int fsync(int fd) { return journaled_sync(fd, 1, 0, 0, 0, call_fsync); }
int fdatasync(int fd) { return journaled_sync(fd, 2, 0, 0, 0, call_fdatasync); }
int sync_file_range(int fd, off_t offset, off_t length, unsigned int flags) {
  return journaled_sync(fd, 3, (uint64_t)offset, (uint64_t)length, flags, call_sync_file_range);
}
int sync_file_range64(int fd, off_t offset, off_t length, unsigned int flags) {
  return sync_file_range(fd, offset, length, flags);
}

// Names: the mutex is held across the call so a directory's fsync sees them in order.
int unlinkat(int dirfd, const char *path, int flags) {
  char abs[PATH_MAX];
  if (!journal_enabled || !absolute(dirfd, path, abs) || !under_root(abs, 0)) return (int)syscall(SYS_unlinkat, dirfd, path, flags);
  pthread_mutex_lock(&journal_lock);
  struct stat before;
  int had = lstat(abs, &before) == 0;
  int result = (int)syscall(SYS_unlinkat, dirfd, path, flags);
  int saved = errno;
  uint64_t dir;
  const char *name;
  if (result == 0 && had && split(abs, &dir, &name)) {
    emit((struct record){.op = OP_REMOVE, .ino = before.st_ino, .dir = dir}, name, NULL, NULL, 0);
  }
  pthread_mutex_unlock(&journal_lock);
  errno = saved;
  return result;
}
int unlink(const char *path) { return unlinkat(AT_FDCWD, path, 0); }
int rmdir(const char *path) { return unlinkat(AT_FDCWD, path, AT_REMOVEDIR); }

int renameat2(int dirfd, const char *path, int newdirfd, const char *newpath, unsigned int flags) {
  char abs[PATH_MAX], new_abs[PATH_MAX];
  int inside = journal_enabled && absolute(dirfd, path, abs) && under_root(abs, 0);
  int new_inside = journal_enabled && absolute(newdirfd, newpath, new_abs) && under_root(new_abs, 0);
  if (!inside && !new_inside) return (int)syscall(SYS_renameat2, dirfd, path, newdirfd, newpath, flags);
  pthread_mutex_lock(&journal_lock);
  int result = (int)syscall(SYS_renameat2, dirfd, path, newdirfd, newpath, flags);
  int saved = errno;
  uint64_t dir, new_dir;
  const char *name, *new_name;
  struct stat after;
  if (result != 0) {
  } else if (inside && new_inside && !(flags & RENAME_EXCHANGE) && split(abs, &dir, &name) &&
             split(new_abs, &new_dir, &new_name) && lstat(new_abs, &after) == 0) {
    emit((struct record){.op = OP_RENAME, .ino = after.st_ino, .dir = dir, .a = new_dir, .c = flags}, name, new_name,
         NULL, 0);
  } else {
    emit((struct record){.op = OP_UNSUPPORTED}, "rename across the root's edge, or an exchange", NULL, NULL, 0);
  }
  pthread_mutex_unlock(&journal_lock);
  errno = saved;
  return result;
}
int renameat(int dirfd, const char *path, int newdirfd, const char *newpath) {
  return renameat2(dirfd, path, newdirfd, newpath, 0);
}
int rename(const char *path, const char *newpath) { return renameat2(AT_FDCWD, path, AT_FDCWD, newpath, 0); }

int mkdirat(int dirfd, const char *path, mode_t mode) {
  char abs[PATH_MAX];
  if (!journal_enabled || !absolute(dirfd, path, abs) || !under_root(abs, 0)) return (int)syscall(SYS_mkdirat, dirfd, path, mode);
  pthread_mutex_lock(&journal_lock);
  int result = (int)syscall(SYS_mkdirat, dirfd, path, mode);
  int saved = errno;
  uint64_t dir;
  const char *name;
  struct stat st;
  if (result == 0 && split(abs, &dir, &name) && stat(abs, &st) == 0) {
    track(st.st_ino);
    emit((struct record){.op = OP_MKDIR, .ino = st.st_ino, .dir = dir}, name, NULL, NULL, 0);
  }
  pthread_mutex_unlock(&journal_lock);
  errno = saved;
  return result;
}
int mkdir(const char *path, mode_t mode) { return mkdirat(AT_FDCWD, path, mode); }

// Calls the server does not make today; if one ever touches the root, the replay refuses the
// journal rather than build an image that silently misses it.
static void refuse_if_tracked(int fd, const char *call) {
  struct stat st;
  if (tracked_fd(fd, &st)) {
    pthread_mutex_lock(&journal_lock);
    emit((struct record){.op = OP_UNSUPPORTED, .ino = st.st_ino}, call, NULL, NULL, 0);
    pthread_mutex_unlock(&journal_lock);
  }
}
static void refuse_if_inside(int dirfd, const char *path, const char *call) {
  char abs[PATH_MAX];
  if (journal_enabled && absolute(dirfd, path, abs) && under_root(abs, 0)) {
    pthread_mutex_lock(&journal_lock);
    emit((struct record){.op = OP_UNSUPPORTED}, call, NULL, NULL, 0);
    pthread_mutex_unlock(&journal_lock);
  }
}
void *mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
  if ((flags & MAP_SHARED) && (protection & PROT_WRITE)) refuse_if_tracked(fd, "mmap shared writable");
  return (void *)syscall(SYS_mmap, address, length, protection, flags, fd, offset);
}
void *mmap64(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
  return mmap(address, length, protection, flags, fd, offset);
}
ssize_t copy_file_range(int in, off_t *in_offset, int out, off_t *out_offset, size_t length, unsigned flags) {
  refuse_if_tracked(out, "copy_file_range");
  return syscall(SYS_copy_file_range, in, in_offset, out, out_offset, length, flags);
}
ssize_t sendfile(int out, int in, off_t *offset, size_t count) {
  refuse_if_tracked(out, "sendfile");
  return syscall(SYS_sendfile, out, in, offset, count);
}
ssize_t sendfile64(int out, int in, off_t *offset, size_t count) { return sendfile(out, in, offset, count); }
int syncfs(int fd) {
  refuse_if_tracked(fd, "syncfs");
  return (int)syscall(SYS_syncfs, fd);
}
int linkat(int dirfd, const char *path, int newdirfd, const char *newpath, int flags) {
  refuse_if_inside(newdirfd, newpath, "link");
  return (int)syscall(SYS_linkat, dirfd, path, newdirfd, newpath, flags);
}
int link(const char *path, const char *newpath) { return linkat(AT_FDCWD, path, AT_FDCWD, newpath, 0); }
int symlinkat(const char *target, int dirfd, const char *path) {
  refuse_if_inside(dirfd, path, "symlink");
  return (int)syscall(SYS_symlinkat, target, dirfd, path);
}
int symlink(const char *target, const char *path) { return symlinkat(target, AT_FDCWD, path); }
