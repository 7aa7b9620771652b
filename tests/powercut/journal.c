// LD_PRELOAD library for Quire's power-cut test: journals every change the process makes under
// one directory (data, sizes, names) and every durability call that follows, so that
// durable-image.mjs can rebuild what Linux promises to keep at any instant. Every wrapped call is
// made, unchanged, as the system call glibc would make for it (so no wrapper depends on finding
// the next library's symbol); the journal only watches.
//
// Environment: POWERCUT_ROOT (absolute, symlink-free path of the data directory, which must
// exist and be empty when the process starts) and POWERCUT_JOURNAL (file the journal is appended
// to, outside the root). Without them the library records nothing.
//
// Files are named by inode, not by path or descriptor: the directory the test watches lives on
// one device, sled renames and unlinks files it still holds open, and Rust's File::try_clone
// duplicates descriptors. A descriptor belongs to the journal when fstat finds its inode among
// those opened under the root.
//
// Ordering. A record is appended under one mutex, as one buffer, after the call it describes
// returned, so the journal's order is an order the kernel could have done them in. Data, size
// and name changes hold the mutex across the real call too (two threads writing one file stay in
// journal order, and a write's offset is read back before anyone else moves it). Sync calls do
// not hold it across the call (that would stall sled's writers behind the disk); they write
// SYNC_BEGIN before and SYNC_END after a successful return, and the replayer credits a sync only
// with changes journaled before its SYNC_BEGIN: POSIX promises nothing about a write that
// overlaps the sync. A process killed mid-sync leaves a SYNC_BEGIN without an end: no credit.
#include "journal.h"

pthread_mutex_t journal_lock = PTHREAD_MUTEX_INITIALIZER;
int journal_enabled;
static int journal_fd = -1;
static char root[PATH_MAX];
static size_t root_len;
static dev_t root_dev;
static uint64_t next_sync_id = 1;
static char *buffer;
static size_t buffer_capacity;

// Inodes opened or created under the root (open addressing; ino + 1 so 0 means empty).
#define TRACKED_SLOTS (1u << 16)
static uint64_t tracked[TRACKED_SLOTS];
static unsigned tracked_count;

void die(const char *what) {
  char message[256];
  int length = snprintf(message, sizeof message, "powercut journal: %s\n", what);
  syscall(SYS_write, 2, message, (size_t)length);
  abort();
}

void track(uint64_t ino) {
  for (unsigned slot = (unsigned)(ino * 2654435761u) % TRACKED_SLOTS;; slot = (slot + 1) % TRACKED_SLOTS) {
    if (tracked[slot] == ino + 1) return;
    if (tracked[slot] == 0) {
      if (++tracked_count > TRACKED_SLOTS / 2) die("too many files");
      tracked[slot] = ino + 1;
      return;
    }
  }
}

static int is_tracked_ino(uint64_t ino) {
  for (unsigned slot = (unsigned)(ino * 2654435761u) % TRACKED_SLOTS;; slot = (slot + 1) % TRACKED_SLOTS) {
    if (tracked[slot] == ino + 1) return 1;
    if (tracked[slot] == 0) return 0;
  }
}

// The inode behind fd if the journal follows it, else 0 (no inode of a live file is 0 on ext4/xfs).
uint64_t tracked_fd(int fd, struct stat *st) {
  if (!journal_enabled || fd < 0 || syscall(SYS_fstat, fd, st) != 0 || st->st_dev != root_dev) return 0;
  pthread_mutex_lock(&journal_lock);
  int yes = is_tracked_ino(st->st_ino);
  pthread_mutex_unlock(&journal_lock);
  return yes ? st->st_ino : 0;
}

// Appends one record with one write(2); the caller holds the mutex.
void emit(struct record r, const char *name, const char *name2, const struct iovec *data, int count) {
  size_t data_len = 0;
  for (int i = 0; i < count; i++) data_len += data[i].iov_len;
  r.name_len = name ? (uint32_t)strlen(name) : 0;
  r.name2_len = name2 ? (uint32_t)strlen(name2) : 0;
  size_t size = sizeof r + r.name_len + r.name2_len + data_len;
  if (size > UINT32_MAX) die("record too large");
  r.size = (uint32_t)size;
  if (size > buffer_capacity) {
    buffer_capacity = size * 2;
    buffer = realloc(buffer, buffer_capacity);
    if (!buffer) die("out of memory");
  }
  char *at = buffer;
  memcpy(at, &r, sizeof r), at += sizeof r;
  memcpy(at, name, r.name_len), at += r.name_len;
  memcpy(at, name2, r.name2_len), at += r.name2_len;
  for (int i = 0; i < count; i++) memcpy(at, data[i].iov_base, data[i].iov_len), at += data[i].iov_len;
  for (size_t done = 0; done < size;) {
    long wrote = syscall(SYS_write, journal_fd, buffer + done, size - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) die("cannot write the journal");
    done += (size_t)wrote;
  }
}

void emit_simple(uint32_t op, uint64_t ino, uint64_t a, uint64_t b, uint64_t c) {
  emit((struct record){.op = op, .ino = ino, .a = a, .b = b, .c = c}, NULL, NULL, NULL, 0);
}

uint64_t new_sync_id(void) { return next_sync_id++; }

__attribute__((constructor)) static void start(void) {
  const char *root_env = getenv("POWERCUT_ROOT"), *journal_env = getenv("POWERCUT_JOURNAL");
  if (!root_env || !journal_env) return;
  root_len = strlen(root_env);
  while (root_len > 1 && root_env[root_len - 1] == '/') root_len--;
  if (root_env[0] != '/' || root_len >= sizeof root) die("POWERCUT_ROOT must be an absolute path");
  memcpy(root, root_env, root_len);
  struct stat st;
  if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) die("POWERCUT_ROOT is not a directory");
  root_dev = st.st_dev;
  journal_fd = (int)syscall(SYS_openat, AT_FDCWD, journal_env, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd < 0) die("cannot open POWERCUT_JOURNAL");
  track(st.st_ino);
  emit_simple(OP_ROOT, st.st_ino, 0, 0, 0);
  journal_enabled = 1;
}

// Absolute form of (dirfd, path) in out; 0 if it cannot be formed.
int absolute(int dirfd, const char *path, char *out) {
  char base[PATH_MAX];
  if (path[0] == '/') {
    base[0] = 0;
  } else if (dirfd == AT_FDCWD) {
    if (!getcwd(base, sizeof base)) return 0;
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof base - 1);
    if (n < 0) return 0;
    base[n] = 0;
  }
  size_t length = (size_t)snprintf(out, PATH_MAX, "%s%s%s", base, base[0] ? "/" : "", path);
  if (length >= PATH_MAX) return 0;
  while (length > 1 && out[length - 1] == '/') out[--length] = 0;
  return 1;
}

// Whether abs is the root (allow_root) or inside it.
int under_root(const char *abs, int allow_root) {
  if (strncmp(abs, root, root_len) != 0) return 0;
  return abs[root_len] == '/' || (allow_root && abs[root_len] == 0);
}

// For a path strictly inside the root: its parent's inode and its last component.
int split(const char *abs, uint64_t *dir, const char **name) {
  if (!under_root(abs, 0)) return 0;
  const char *slash = strrchr(abs, '/');
  char parent[PATH_MAX];
  memcpy(parent, abs, (size_t)(slash - abs));
  parent[slash - abs] = 0;
  struct stat st;
  if (stat(parent, &st) != 0) return 0;
  *dir = st.st_ino;
  *name = slash + 1;
  if (!strcmp(*name, ".") || !strcmp(*name, "..")) die("path ends in . or ..");
  return 1;
}

