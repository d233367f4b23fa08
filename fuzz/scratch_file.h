// scratch_file.h
//
// A file that a fuzz target rewrites with each input, for code that reads
// paths rather than bytes. It lives in the test's temporary directory
// ($TEST_TMPDIR under Bazel, else $TMPDIR or /tmp) and is removed when the
// object is destroyed.

#ifndef VMBSIM_FUZZ_SCRATCH_FILE_H_
#define VMBSIM_FUZZ_SCRATCH_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace vmbsim::fuzz {

class ScratchFile {
 public:
  // `stem` names the file ("<dir>/<stem>.XXXXXX"). Aborts if it cannot be
  // created: a target that cannot run must not pass.
  explicit ScratchFile(const std::string& stem);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Replaces the file's contents with `size` bytes at `data`; aborts on a
  // write error.
  void Write(const uint8_t* data, size_t size);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace vmbsim::fuzz

#endif  // VMBSIM_FUZZ_SCRATCH_FILE_H_
