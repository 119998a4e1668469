// A passthrough FUSE filesystem whose writes fail with EIO on demand: the store-faults test's
// failing disk. It serves BACKING at MOUNTPOINT; while BACKING/.fail exists (made or removed in
// BACKING directly, not through the mount), every call that would change a file (write, fsync,
// truncate, create, unlink, rename, fallocate) fails with EIO, as a dying disk's would. Reads go on.
//
//   failing_fs BACKING MOUNTPOINT     # foreground; unmount (umount MOUNTPOINT) to stop it
#define FUSE_USE_VERSION 35
#include <fuse3/fuse.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

std::string g_backing;

std::string Real(const char* path) { return g_backing + path; }

bool Failing() { return ::access((g_backing + "/.fail").c_str(), F_OK) == 0; }

int Err(int r) { return r < 0 ? -errno : r; }

int GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  return Err(fi ? ::fstat(static_cast<int>(fi->fh), st) : ::lstat(Real(path).c_str(), st));
}

int Access(const char* path, int mask) { return Err(::access(Real(path).c_str(), mask)); }

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*, fuse_readdir_flags) {
  DIR* d = ::opendir(Real(path).c_str());
  if (!d) return -errno;
  while (dirent* e = ::readdir(d)) fill(buf, e->d_name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  ::closedir(d);
  return 0;
}

int MkDir(const char* path, mode_t mode) { return Failing() ? -EIO : Err(::mkdir(Real(path).c_str(), mode)); }

int Unlink(const char* path) { return Failing() ? -EIO : Err(::unlink(Real(path).c_str())); }

int Rename(const char* from, const char* to, unsigned int) {
  return Failing() ? -EIO : Err(::rename(Real(from).c_str(), Real(to).c_str()));
}

int Chmod(const char* path, mode_t mode, fuse_file_info*) { return Err(::chmod(Real(path).c_str(), mode)); }

int Truncate(const char* path, off_t size, fuse_file_info* fi) {
  if (Failing()) return -EIO;
  return Err(fi ? ::ftruncate(static_cast<int>(fi->fh), size) : ::truncate(Real(path).c_str(), size));
}

int Open(const char* path, fuse_file_info* fi) {
  const int fd = ::open(Real(path).c_str(), fi->flags);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  if (Failing()) return -EIO;
  const int fd = ::open(Real(path).c_str(), fi->flags, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Read(const char*, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  return Err(static_cast<int>(::pread(static_cast<int>(fi->fh), buf, size, offset)));
}

int Write(const char*, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  if (Failing()) return -EIO;
  return Err(static_cast<int>(::pwrite(static_cast<int>(fi->fh), buf, size, offset)));
}

int Fsync(const char*, int datasync, fuse_file_info* fi) {
  if (Failing()) return -EIO;
  return Err(datasync ? ::fdatasync(static_cast<int>(fi->fh)) : ::fsync(static_cast<int>(fi->fh)));
}

int Fallocate(const char*, int mode, off_t offset, off_t length, fuse_file_info* fi) {
  if (Failing()) return -EIO;
  return Err(::fallocate(static_cast<int>(fi->fh), mode, offset, length));
}

int Release(const char*, fuse_file_info* fi) { return Err(::close(static_cast<int>(fi->fh))); }

int Utimens(const char* path, const timespec tv[2], fuse_file_info*) {
  return Err(::utimensat(AT_FDCWD, Real(path).c_str(), tv, AT_SYMLINK_NOFOLLOW));
}

void* Init(fuse_conn_info*, fuse_config* cfg) {
  cfg->use_ino = 1;
  cfg->direct_io = 0;
  cfg->kernel_cache = 0;
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: failing_fs BACKING MOUNTPOINT\n");
    return 2;
  }
  char* real = ::realpath(argv[1], nullptr);
  if (!real) return std::perror(argv[1]), 2;
  g_backing = real;
  std::free(real);
  fuse_operations ops{};
  ops.getattr = GetAttr;
  ops.access = Access;
  ops.readdir = ReadDir;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rename = Rename;
  ops.chmod = Chmod;
  ops.truncate = Truncate;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.fsync = Fsync;
  ops.fallocate = Fallocate;
  ops.release = Release;
  ops.utimens = Utimens;
  ops.init = Init;
  char prog[] = "failing_fs", fg[] = "-f", single[] = "-s";
  char* args[] = {prog, fg, single, argv[2], nullptr};
  return fuse_main(4, args, &ops, nullptr);
}
