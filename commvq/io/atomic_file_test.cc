#include "commvq/io/atomic_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "commvq/base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace commvq {
namespace {

using ::commvq::testing::IsOkAndHolds;
using ::commvq::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// State of the fake system calls below; tests run one at a time.
int write_calls = 0;
int fsync_calls = 0;

ssize_t WriteAtMostThreeBytesWithEintr(int fd, const void* buffer,
                                       size_t size) {
  // Every other call is interrupted before writing anything.
  if (write_calls++ % 2 == 0) {
    errno = EINTR;
    return -1;
  }
  return ::write(fd, buffer, std::min<size_t>(size, 3));
}

// Writes half of what it is given, then reports a full disk.
ssize_t WriteHalfThenFail(int fd, const void* buffer, size_t size) {
  if (write_calls++ == 0) return ::write(fd, buffer, size / 2);
  errno = ENOSPC;
  return -1;
}

ssize_t WriteNothing(int fd, const void* buffer, size_t size) { return 0; }

int FsyncFails(int fd) {
  errno = EIO;
  return -1;
}

// Lets the file's sync succeed and fails the folder's, which comes second.
int SecondFsyncFails(int fd) {
  if (fsync_calls++ == 0) return ::fsync(fd);
  errno = EIO;
  return -1;
}

int RenameFails(const char* from, const char* to) {
  errno = EACCES;
  return -1;
}

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_calls = 0;
    fsync_calls = 0;
    std::string pattern = ::testing::TempDir() + "atomic_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << pattern;
    dir_ = pattern;
    path_ = dir_ + "/target.bin";
  }

  // The names in the test's folder, sorted: shows stray temporary files.
  std::vector<std::string> ListDir() const {
    std::vector<std::string> names;
    DIR* dir = opendir(dir_.c_str());
    if (dir == nullptr) return names;
    while (const dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(AtomicFileTest, CreatesAFile) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "hello"));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds("hello"));
  EXPECT_THAT(ListDir(), ElementsAre("target.bin"));
}

TEST_F(AtomicFileTest, ReplacesAnExistingFile) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "old contents, longer"));
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "new"));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds("new"));
  EXPECT_THAT(ListDir(), ElementsAre("target.bin"));
}

TEST_F(AtomicFileTest, WritesEmptyAndBinaryContents) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, ""));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds(""));
  std::string binary(1 << 20, '\0');
  for (size_t i = 0; i < binary.size(); ++i)
    binary[i] = static_cast<char>(i * 7);
  CVQ_ASSERT_OK(WriteFileAtomically(path_, binary));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds(binary));
}

TEST_F(AtomicFileTest, NewFileGetsTheUmaskPermissions) {
  const mode_t umask_value = umask(0);
  umask(umask_value);
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "x"));
  struct stat info;
  ASSERT_EQ(stat(path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0666 & ~umask_value);
}

TEST_F(AtomicFileTest, ShortWritesAndEintrAreRetried) {
  FileOps ops;
  ops.write = WriteAtMostThreeBytesWithEintr;
  const std::string contents = "seventeen bytes!!";
  CVQ_ASSERT_OK(WriteFileAtomically(path_, contents, ops));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds(contents));
  // 6 writes of 3 bytes, each after an interrupted call.
  EXPECT_EQ(write_calls, 12);
}

TEST_F(AtomicFileTest, FullDiskHalfwayKeepsTheOldFile) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "old contents"));
  FileOps ops;
  ops.write = WriteHalfThenFail;
  EXPECT_THAT(WriteFileAtomically(path_, std::string(4096, 'n'), ops),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("cannot write '" + path_ + "'"),
                             HasSubstr("No space left on device"))));
  EXPECT_EQ(write_calls, 2);
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds("old contents"));
  EXPECT_THAT(ListDir(), ElementsAre("target.bin"));
}

TEST_F(AtomicFileTest, FullDiskLeavesNoFileWhenThereWasNone) {
  FileOps ops;
  ops.write = WriteHalfThenFail;
  EXPECT_THAT(WriteFileAtomically(path_, "contents", ops),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr(path_)));
  EXPECT_THAT(ListDir(), IsEmpty());
}

TEST_F(AtomicFileTest, WriteWithoutProgressIsAnError) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "old"));
  FileOps ops;
  ops.write = WriteNothing;
  EXPECT_THAT(WriteFileAtomically(path_, "new", ops),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(path_), HasSubstr("no progress"))));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds("old"));
  EXPECT_THAT(ListDir(), ElementsAre("target.bin"));
}

TEST_F(AtomicFileTest, FailedSyncKeepsTheOldFile) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "old"));
  FileOps ops;
  ops.fsync = FsyncFails;
  EXPECT_THAT(WriteFileAtomically(path_, "new", ops),
              StatusIs(absl::ErrnoToStatusCode(EIO),
                       AllOf(HasSubstr("cannot sync '" + path_),
                             HasSubstr("Input/output error"))));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds("old"));
  EXPECT_THAT(ListDir(), ElementsAre("target.bin"));
}

TEST_F(AtomicFileTest, FailedRenameKeepsTheOldFile) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "old"));
  FileOps ops;
  ops.rename = RenameFails;
  EXPECT_THAT(
      WriteFileAtomically(path_, "new", ops),
      StatusIs(absl::StatusCode::kPermissionDenied,
               AllOf(HasSubstr(path_), HasSubstr("Permission denied"))));
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds("old"));
  EXPECT_THAT(ListDir(), ElementsAre("target.bin"));
}

TEST_F(AtomicFileTest, FailedFolderSyncReportsTheUnsyncedNewFile) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "old"));
  FileOps ops;
  ops.fsync = SecondFsyncFails;
  EXPECT_THAT(WriteFileAtomically(path_, "new", ops),
              StatusIs(absl::ErrnoToStatusCode(EIO),
                       AllOf(HasSubstr(path_), HasSubstr(dir_),
                             HasSubstr("power loss"))));
  // The rename happened: the new contents are there, and no temporary.
  EXPECT_THAT(ReadFile(path_), IsOkAndHolds("new"));
  EXPECT_THAT(ListDir(), ElementsAre("target.bin"));
}

TEST_F(AtomicFileTest, MissingFolderIsNotFound) {
  const std::string path = dir_ + "/no/such/folder/file";
  EXPECT_THAT(WriteFileAtomically(path, "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
  EXPECT_THAT(ListDir(), IsEmpty());
}

TEST_F(AtomicFileTest, RelativePathSyncsTheWorkingFolder) {
  char* old_cwd = getcwd(nullptr, 0);
  ASSERT_NE(old_cwd, nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  const absl::Status status = WriteFileAtomically("relative.bin", "r");
  ASSERT_EQ(chdir(old_cwd), 0);
  free(old_cwd);
  CVQ_ASSERT_OK(status);
  EXPECT_THAT(ReadFile(dir_ + "/relative.bin"), IsOkAndHolds("r"));
}

TEST_F(AtomicFileTest, ReadFileErrorsNameThePath) {
  const std::string missing = dir_ + "/missing";
  EXPECT_THAT(ReadFile(missing),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("'" + missing + "'"),
                             HasSubstr("No such file or directory"))));
  EXPECT_THAT(ReadFile(dir_), StatusIs(absl::ErrnoToStatusCode(EISDIR),
                                       AllOf(HasSubstr("cannot read '" + dir_),
                                             HasSubstr("Is a directory"))));
}

TEST_F(AtomicFileTest, ReadFileReadsFilesThatReportNoSize) {
  // procfs files report size 0 but have contents.
  CVQ_ASSERT_OK_AND_ASSIGN(const std::string status,
                           ReadFile("/proc/self/status"));
  EXPECT_THAT(status, HasSubstr("Name:"));
}

TEST_F(AtomicFileTest, MappedFileSeesTheContents) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "mapped bytes"));
  CVQ_ASSERT_OK_AND_ASSIGN(MappedFile file, MappedFile::Open(path_));
  EXPECT_EQ(file.data(), "mapped bytes");
}

TEST_F(AtomicFileTest, MappedFileOfAnEmptyFileIsEmpty) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, ""));
  CVQ_ASSERT_OK_AND_ASSIGN(MappedFile file, MappedFile::Open(path_));
  EXPECT_TRUE(file.data().empty());
}

TEST_F(AtomicFileTest, MappedFileKeepsItsAddressWhenMoved) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "first"));
  CVQ_ASSERT_OK_AND_ASSIGN(MappedFile file, MappedFile::Open(path_));
  const absl::string_view view = file.data();
  MappedFile moved(std::move(file));
  EXPECT_EQ(moved.data().data(), view.data());
  EXPECT_EQ(view, "first");

  const std::string other_path = dir_ + "/other.bin";
  CVQ_ASSERT_OK(WriteFileAtomically(other_path, "second"));
  CVQ_ASSERT_OK_AND_ASSIGN(MappedFile other, MappedFile::Open(other_path));
  // Move assignment releases "first" and takes over "second".
  moved = std::move(other);
  EXPECT_EQ(moved.data(), "second");
}

TEST_F(AtomicFileTest, MappingSurvivesAnAtomicReplace) {
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "before"));
  CVQ_ASSERT_OK_AND_ASSIGN(MappedFile file, MappedFile::Open(path_));
  CVQ_ASSERT_OK(WriteFileAtomically(path_, "after!"));
  EXPECT_EQ(file.data(), "before");
}

TEST_F(AtomicFileTest, MappedFileErrorsNameThePath) {
  const std::string missing = dir_ + "/missing.safetensors";
  EXPECT_THAT(MappedFile::Open(missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));
  EXPECT_THAT(
      MappedFile::Open(dir_),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr(dir_), HasSubstr("not a regular file"))));
}

}  // namespace
}  // namespace commvq
