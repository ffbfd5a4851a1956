// Whole-file reads and crash-safe whole-file writes for the library's output
// files (safetensors, codebooks), plus a read-only memory map so large inputs
// are parsed in place instead of copied.
//
// A write never leaves a half-written file under the target name: readers
// see either the old content or the new one, even after a crash or power
// loss, because the data is written to a temporary file in the same folder,
// synced, and renamed over the target.
#ifndef COMMVQ_IO_ATOMIC_FILE_H_
#define COMMVQ_IO_ATOMIC_FILE_H_

#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace commvq {

// The system calls WriteFileAtomically makes that can fail after the
// temporary file exists. Tests replace them to simulate a full disk or a
// failing rename; everything else uses the defaults (the real calls).
struct FileOps {
  ssize_t (*write)(int fd, const void* buffer, size_t size) = ::write;
  int (*fsync)(int fd) = ::fsync;
  int (*rename)(const char* from, const char* to) = ::rename;
};

// Replaces the file at `path` with `contents`, creating it if needed, with
// the permissions a new file gets (0666 minus the umask). On error the
// temporary file is removed and an existing file at `path` is untouched; the
// error names the path and the failing call's strerror. If only the final
// sync of the folder fails, `path` already holds the new contents but may
// not survive a power loss, and the error says so.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents,
                                 const FileOps& ops);

// The whole content of the file at `path`. NotFound, PermissionDenied, ...
// (from errno) with the path and strerror on error.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// A read-only, private memory map of a whole regular file. Move-only; the
// mapping is released when the object is destroyed, so views from data()
// must not outlive it. Moving keeps the mapped address, so views taken
// before a move stay valid. As with any mapping, another process truncating
// the file while it is mapped makes reads past the new end fault (SIGBUS);
// files replaced by WriteFileAtomically are never truncated, only renamed
// over, so a mapping keeps seeing the old content.
class MappedFile {
 public:
  // NotFound etc. (from errno) naming the path; InvalidArgument for a path
  // that is not a regular file. An empty file gives an empty data().
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  absl::string_view data() const {
    return absl::string_view(static_cast<const char*>(address_), size_);
  }

 private:
  MappedFile(void* address, size_t size) : address_(address), size_(size) {}
  void Unmap();

  // Null for an empty file (mmap cannot map zero bytes).
  void* address_ = nullptr;
  size_t size_ = 0;
};

}  // namespace commvq

#endif  // COMMVQ_IO_ATOMIC_FILE_H_
