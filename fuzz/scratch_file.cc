#include "fuzz/scratch_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace vmbsim::fuzz {

ScratchFile::ScratchFile(const std::string& stem) {
  const char* dir = std::getenv("TEST_TMPDIR");
  if (dir == nullptr || *dir == '\0') dir = std::getenv("TMPDIR");
  if (dir == nullptr || *dir == '\0') dir = "/tmp";
  std::string pattern = std::string(dir) + "/" + stem + ".XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0) {
    std::perror(pattern.c_str());
    std::abort();
  }
  close(fd);
  path_ = name.data();
}

ScratchFile::~ScratchFile() { unlink(path_.c_str()); }

void ScratchFile::Write(const uint8_t* data, size_t size) {
  std::FILE* file = std::fopen(path_.c_str(), "wb");
  if (file == nullptr || (size > 0 && std::fwrite(data, 1, size, file) != size) || std::fclose(file) != 0) {
    std::perror(path_.c_str());
    std::abort();
  }
}

}  // namespace vmbsim::fuzz
