#include "commvq/io/atomic_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"

namespace commvq {
namespace {

// A status with errno's code (ENOENT -> NotFound, ...) and strerror, after
// a message naming the operation and the path.
absl::Status ErrnoError(int error_number, absl::string_view what,
                        absl::string_view path) {
  return absl::ErrnoToStatus(error_number,
                             absl::StrCat("cannot ", what, " '", path, "'"));
}

// The folder holding `path`, for syncing the rename into it.
std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates a new file next to `path` for the data to be renamed from. Opened
// with O_EXCL and mode 0666 rather than by mkstemp, so the final file gets
// the umask's permissions instead of mkstemp's 0600.
absl::StatusOr<int> CreateTemporary(const std::string& path,
                                    std::string* temp_path) {
  static std::atomic<uint64_t> counter{0};
  // The pid and counter make the name unique within this host; the clock
  // makes a clash with another host on a shared filesystem unlikely, and
  // O_EXCL turns any remaining clash into a retry, never into sharing.
  constexpr int kAttempts = 16;
  int error_number = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const uint64_t nanos = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    *temp_path = absl::StrCat(path, ".tmp.", getpid(), ".", counter++, ".",
                              absl::Hex(nanos & 0xffffff));
    const int fd =
        open(temp_path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    error_number = errno;
    if (error_number != EEXIST) break;
  }
  return ErrnoError(error_number, "create a temporary file for", path);
}

absl::Status WriteAll(int fd, absl::string_view contents, const FileOps& ops,
                      const std::string& path) {
  while (!contents.empty()) {
    const ssize_t written = ops.write(fd, contents.data(), contents.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write", path);
    }
    if (written == 0) {
      // write() returning 0 for a non-empty buffer would loop forever.
      return absl::DataLossError(absl::StrCat("cannot write '", path,
                                              "': write made no progress with ",
                                              contents.size(), " bytes left"));
    }
    contents.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

int FsyncRetryingEintr(int fd, const FileOps& ops) {
  int result;
  do {
    result = ops.fsync(fd);
  } while (result != 0 && errno == EINTR);
  return result;
}

// Everything after the temporary file exists and before the rename: on
// error the caller removes the file (this function has closed `fd`).
absl::Status WriteAndClose(int fd, absl::string_view contents,
                           const FileOps& ops, const std::string& path) {
  absl::Status status = WriteAll(fd, contents, ops, path);
  if (status.ok() && FsyncRetryingEintr(fd, ops) != 0) {
    status = ErrnoError(errno, "sync", path);
  }
  // close() is not retried on EINTR: on Linux the descriptor is gone even
  // then. Its errors still matter, e.g. NFS reports failed writes there.
  if (close(fd) != 0 && status.ok()) status = ErrnoError(errno, "close", path);
  return status;
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  return WriteFileAtomically(path, contents, FileOps());
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents,
                                 const FileOps& ops) {
  std::string temp_path;
  absl::StatusOr<int> fd = CreateTemporary(path, &temp_path);
  if (!fd.ok()) return fd.status();
  absl::Status status = WriteAndClose(*fd, contents, ops, path);
  if (status.ok() && ops.rename(temp_path.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, "rename a temporary file over", path);
  }
  if (!status.ok()) {
    unlink(temp_path.c_str());
    return status;
  }
  // The rename is durable only once the folder's entry is synced.
  const std::string directory = ParentDirectory(path);
  const int dir_fd =
      open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || FsyncRetryingEintr(dir_fd, ops) != 0) {
    status = absl::ErrnoToStatus(
        errno, absl::StrCat("'", path, "' was written but syncing its folder '",
                            directory,
                            "' failed, so it may not survive a "
                            "power loss"));
  }
  if (dir_fd >= 0) close(dir_fd);
  return status;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", path);
  struct stat info;
  if (fstat(fd, &info) != 0) {
    const int error_number = errno;
    close(fd);
    return ErrnoError(error_number, "stat", path);
  }
  // The size is only a hint: files in /proc or pipes report 0. One spare
  // byte lets a regular file's final, empty read need no reallocation.
  std::string contents(static_cast<size_t>(info.st_size) + 1, '\0');
  size_t used = 0;
  while (true) {
    if (used == contents.size()) contents.resize(2 * contents.size());
    const ssize_t got = read(fd, &contents[used], contents.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error_number = errno;
      close(fd);
      return ErrnoError(error_number, "read", path);
    }
    if (got == 0) break;
    used += static_cast<size_t>(got);
  }
  close(fd);
  contents.resize(used);
  return contents;
}

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", path);
  struct stat info;
  if (fstat(fd, &info) != 0) {
    const int error_number = errno;
    close(fd);
    return ErrnoError(error_number, "stat", path);
  }
  if (!S_ISREG(info.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot map '", path, "': it is not a regular file"));
  }
  const size_t size = static_cast<size_t>(info.st_size);
  if (size == 0) {
    close(fd);
    return MappedFile(nullptr, 0);
  }
  void* address = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int error_number = errno;
  // The mapping holds its own reference to the file.
  close(fd);
  if (address == MAP_FAILED) return ErrnoError(error_number, "map", path);
  return MappedFile(address, size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : address_(std::exchange(other.address_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    address_ = std::exchange(other.address_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() { Unmap(); }

void MappedFile::Unmap() {
  if (address_ != nullptr) munmap(address_, size_);
  address_ = nullptr;
  size_ = 0;
}

}  // namespace commvq
