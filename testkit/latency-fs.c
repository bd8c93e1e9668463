/*
 * latencyfs: a FUSE passthrough to a backing directory that sleeps a fixed time in every request
 * that is a network round trip on NFS, EFS, Filestore or CephFS, so a benchmark can run a checkpoint
 * store on "network storage" on one machine. Built and mounted by testkit/latency-fs.ts.
 *
 *   latencyfs BACKING_DIR MOUNTPOINT DELAY_US
 *
 * Delayed (one round trip each, as on NFS): lookup/getattr, access, open, create, mkdir, rmdir,
 * unlink, rename, link, symlink, readlink, setattr (chmod, chown, truncate, utimens), opendir,
 * readdir, statfs, fsync, fsyncdir, and the flush (close) of a file written since its last flush
 * (NFS sends buffered writes at close, close-to-open consistency). Not delayed: read, write (the
 * client buffers them until that flush or fsync) and release. Like an NFS client, the kernel keeps
 * looked-up names and attributes for a second; names that do not exist are asked for every time.
 *
 * Requests run on many threads at once, so concurrent round trips overlap as they do on a network
 * mount. The virtual file /.latencyfs-stats (not delayed) reads as "requests N\ndelayed_us N\n"
 * followed by one "name N" line per request type, so a caller can count what its own calls cost.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define STATS_PATH "/.latencyfs-stats"

enum op {
  OP_GETATTR, OP_ACCESS, OP_OPEN, OP_CREATE, OP_MKDIR, OP_RMDIR, OP_UNLINK, OP_RENAME, OP_LINK,
  OP_SYMLINK, OP_READLINK, OP_SETATTR, OP_OPENDIR, OP_READDIR, OP_STATFS, OP_FSYNC, OP_FSYNCDIR,
  OP_FLUSH, OP_COUNT
};
static const char *op_names[OP_COUNT] = {
  "getattr", "access", "open", "create", "mkdir", "rmdir", "unlink", "rename", "link",
  "symlink", "readlink", "setattr", "opendir", "readdir", "statfs", "fsync", "fsyncdir", "flush",
};

static int backing = -1;
static long delay_us;
static atomic_ulong counts[OP_COUNT];
static atomic_ulong total_requests;
static atomic_ulong total_delayed_us;

/* Open files: the descriptor, and whether it was written since its last flush. */
struct handle {
  int fd;
  atomic_int dirty;
};

static void round_trip(enum op op) {
  atomic_fetch_add(&counts[op], 1);
  atomic_fetch_add(&total_requests, 1);
  if (delay_us <= 0) return;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000L;
  atomic_fetch_add(&total_delayed_us, (unsigned long)us);
}

/* Path relative to the backing directory ("." for the root). */
static const char *rel(const char *path) {
  while (*path == '/') path++;
  return *path ? path : ".";
}

static int is_stats(const char *path) { return path && strcmp(path, STATS_PATH) == 0; }

static int stats_text(char *buf, size_t size) {
  int n = snprintf(buf, size, "requests %lu\ndelayed_us %lu\n", atomic_load(&total_requests),
                   atomic_load(&total_delayed_us));
  for (int i = 0; i < OP_COUNT && n < (int)size; i++) {
    n += snprintf(buf + n, size - n, "%s %lu\n", op_names[i], atomic_load(&counts[i]));
  }
  return n;
}

static void *lfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  cfg->use_ino = 1;
  cfg->entry_timeout = 1.0;
  cfg->attr_timeout = 1.0;
  cfg->negative_timeout = 0;
  cfg->hard_remove = 1;
  return NULL;
}

static int lfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  if (is_stats(path)) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = 4096;
    return 0;
  }
  round_trip(OP_GETATTR);
  int r = fi ? fstat(((struct handle *)(uintptr_t)fi->fh)->fd, st)
             : fstatat(backing, rel(path), st, AT_SYMLINK_NOFOLLOW);
  return r == -1 ? -errno : 0;
}

static int lfs_access(const char *path, int mask) {
  if (is_stats(path)) return (mask & W_OK) ? -EACCES : 0;
  round_trip(OP_ACCESS);
  return faccessat(backing, rel(path), mask, 0) == -1 ? -errno : 0;
}

static int lfs_readlink(const char *path, char *buf, size_t size) {
  round_trip(OP_READLINK);
  ssize_t n = readlinkat(backing, rel(path), buf, size - 1);
  if (n == -1) return -errno;
  buf[n] = '\0';
  return 0;
}

static int lfs_mkdir(const char *path, mode_t mode) {
  round_trip(OP_MKDIR);
  return mkdirat(backing, rel(path), mode) == -1 ? -errno : 0;
}

static int lfs_unlink(const char *path) {
  round_trip(OP_UNLINK);
  return unlinkat(backing, rel(path), 0) == -1 ? -errno : 0;
}

static int lfs_rmdir(const char *path) {
  round_trip(OP_RMDIR);
  return unlinkat(backing, rel(path), AT_REMOVEDIR) == -1 ? -errno : 0;
}

static int lfs_symlink(const char *from, const char *to) {
  round_trip(OP_SYMLINK);
  return symlinkat(from, backing, rel(to)) == -1 ? -errno : 0;
}

static int lfs_rename(const char *from, const char *to, unsigned int flags) {
  round_trip(OP_RENAME);
  return renameat2(backing, rel(from), backing, rel(to), flags) == -1 ? -errno : 0;
}

static int lfs_link(const char *from, const char *to) {
  round_trip(OP_LINK);
  return linkat(backing, rel(from), backing, rel(to), 0) == -1 ? -errno : 0;
}

static int lfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  round_trip(OP_SETATTR);
  int r = fi ? fchmod(((struct handle *)(uintptr_t)fi->fh)->fd, mode) : fchmodat(backing, rel(path), mode, 0);
  return r == -1 ? -errno : 0;
}

static int lfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  round_trip(OP_SETATTR);
  int r = fi ? fchown(((struct handle *)(uintptr_t)fi->fh)->fd, uid, gid)
             : fchownat(backing, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
  return r == -1 ? -errno : 0;
}

static int lfs_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  round_trip(OP_SETATTR);
  if (fi) return ftruncate(((struct handle *)(uintptr_t)fi->fh)->fd, size) == -1 ? -errno : 0;
  int fd = openat(backing, rel(path), O_WRONLY);
  if (fd == -1) return -errno;
  int r = ftruncate(fd, size) == -1 ? -errno : 0;
  close(fd);
  return r;
}

static int lfs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  round_trip(OP_SETATTR);
  int r = fi ? futimens(((struct handle *)(uintptr_t)fi->fh)->fd, tv)
             : utimensat(backing, rel(path), tv, AT_SYMLINK_NOFOLLOW);
  return r == -1 ? -errno : 0;
}

static int keep(struct fuse_file_info *fi, int fd) {
  struct handle *h = malloc(sizeof *h);
  if (!h) {
    close(fd);
    return -ENOMEM;
  }
  h->fd = fd;
  atomic_init(&h->dirty, 0);
  fi->fh = (uint64_t)(uintptr_t)h;
  return 0;
}

static int lfs_open(const char *path, struct fuse_file_info *fi) {
  if (is_stats(path)) {
    if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EACCES;
    fi->direct_io = 1;
    fi->fh = 0;
    return 0;
  }
  round_trip(OP_OPEN);
  int fd = openat(backing, rel(path), fi->flags & ~O_NOFOLLOW);
  return fd == -1 ? -errno : keep(fi, fd);
}

static int lfs_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  round_trip(OP_CREATE);
  int fd = openat(backing, rel(path), fi->flags | O_CREAT, mode);
  return fd == -1 ? -errno : keep(fi, fd);
}

static int lfs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  if (is_stats(path)) {
    char text[4096];
    int n = stats_text(text, sizeof text);
    if (off >= n) return 0;
    size_t len = (size_t)(n - off) < size ? (size_t)(n - off) : size;
    memcpy(buf, text + off, len);
    return (int)len;
  }
  ssize_t n = pread(((struct handle *)(uintptr_t)fi->fh)->fd, buf, size, off);
  return n == -1 ? -errno : (int)n;
}

static int lfs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  struct handle *h = (struct handle *)(uintptr_t)fi->fh;
  ssize_t n = pwrite(h->fd, buf, size, off);
  if (n == -1) return -errno;
  atomic_store(&h->dirty, 1);
  return (int)n;
}

static int lfs_statfs(const char *path, struct statvfs *st) {
  (void)path;
  round_trip(OP_STATFS);
  return fstatvfs(backing, st) == -1 ? -errno : 0;
}

static int lfs_flush(const char *path, struct fuse_file_info *fi) {
  if (is_stats(path) || !fi->fh) return 0;
  struct handle *h = (struct handle *)(uintptr_t)fi->fh;
  if (atomic_exchange(&h->dirty, 0)) round_trip(OP_FLUSH);
  return 0;
}

static int lfs_release(const char *path, struct fuse_file_info *fi) {
  if (is_stats(path) || !fi->fh) return 0;
  struct handle *h = (struct handle *)(uintptr_t)fi->fh;
  close(h->fd);
  free(h);
  return 0;
}

static int lfs_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path;
  round_trip(OP_FSYNC);
  struct handle *h = (struct handle *)(uintptr_t)fi->fh;
  atomic_store(&h->dirty, 0);
  int r = datasync ? fdatasync(h->fd) : fsync(h->fd);
  return r == -1 ? -errno : 0;
}

static int lfs_opendir(const char *path, struct fuse_file_info *fi) {
  round_trip(OP_OPENDIR);
  int fd = openat(backing, rel(path), O_RDONLY | O_DIRECTORY);
  if (fd == -1) return -errno;
  DIR *dir = fdopendir(fd);
  if (!dir) {
    int e = errno;
    close(fd);
    return -e;
  }
  fi->fh = (uint64_t)(uintptr_t)dir;
  return 0;
}

static int lfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                       enum fuse_readdir_flags flags) {
  (void)path;
  (void)flags;
  round_trip(OP_READDIR);
  DIR *dir = (DIR *)(uintptr_t)fi->fh;
  seekdir(dir, off);
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    struct stat st = {0};
    st.st_ino = e->d_ino;
    st.st_mode = (mode_t)e->d_type << 12;
    if (fill(buf, e->d_name, &st, telldir(dir), 0)) break;
  }
  return 0;
}

static int lfs_releasedir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  closedir((DIR *)(uintptr_t)fi->fh);
  return 0;
}

static int lfs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path;
  round_trip(OP_FSYNCDIR);
  int fd = dirfd((DIR *)(uintptr_t)fi->fh);
  int r = datasync ? fdatasync(fd) : fsync(fd);
  return r == -1 ? -errno : 0;
}

static const struct fuse_operations ops = {
  .init = lfs_init,
  .getattr = lfs_getattr,
  .access = lfs_access,
  .readlink = lfs_readlink,
  .mkdir = lfs_mkdir,
  .unlink = lfs_unlink,
  .rmdir = lfs_rmdir,
  .symlink = lfs_symlink,
  .rename = lfs_rename,
  .link = lfs_link,
  .chmod = lfs_chmod,
  .chown = lfs_chown,
  .truncate = lfs_truncate,
  .utimens = lfs_utimens,
  .open = lfs_open,
  .create = lfs_create,
  .read = lfs_read,
  .write = lfs_write,
  .statfs = lfs_statfs,
  .flush = lfs_flush,
  .release = lfs_release,
  .fsync = lfs_fsync,
  .opendir = lfs_opendir,
  .readdir = lfs_readdir,
  .releasedir = lfs_releasedir,
  .fsyncdir = lfs_fsyncdir,
};

int main(int argc, char *argv[]) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s BACKING_DIR MOUNTPOINT DELAY_US\n", argv[0]);
    return 2;
  }
  backing = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (backing == -1) {
    perror(argv[1]);
    return 2;
  }
  delay_us = strtol(argv[3], NULL, 10);
  umask(0);
  /* Foreground (the caller owns the process), many threads (overlapping round trips). */
  char *args[] = {argv[0], argv[2], "-f", "-o", "max_threads=128,max_idle_threads=64,fsname=latencyfs", NULL};
  return fuse_main(5, args, &ops, NULL);
}
