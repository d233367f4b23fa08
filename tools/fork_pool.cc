#include "tools/fork_pool.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace vmbsim::tools {
namespace {

struct Child {
  pid_t pid = 0;
  int fd = -1;
  size_t task = 0;
  std::string output;
};

void WriteAll(int fd, const std::string& text) {
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    written += static_cast<size_t>(n);
  }
}

}  // namespace

absl::Status RunForked(unsigned jobs, const std::function<std::optional<size_t>()>& next,
                       const std::function<std::string(size_t)>& task,
                       const std::function<void(ForkResult)>& done) {
  std::vector<Child> running;
  absl::Status status;
  bool exhausted = false;
  while (true) {
    while (status.ok() && !exhausted && running.size() < jobs) {
      const std::optional<size_t> id = next();
      if (!id.has_value()) {
        exhausted = true;
        break;
      }
      int fds[2];
      if (pipe(fds) != 0) {
        status = absl::InternalError(absl::StrCat("cannot create a pipe: ", std::strerror(errno)));
        break;
      }
      std::fflush(stdout);  // Or the child's copy of the buffers is printed again.
      std::fflush(stderr);
      const pid_t pid = fork();
      if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        status = absl::InternalError(absl::StrCat("cannot start a run: ", std::strerror(errno)));
        break;
      }
      if (pid == 0) {
        close(fds[0]);
        for (const Child& c : running) close(c.fd);
        // The run's own output is not the caller's.
        if (std::freopen("/dev/null", "w", stdout) == nullptr || std::freopen("/dev/null", "w", stderr) == nullptr) {
          _exit(70);
        }
        WriteAll(fds[1], task(*id));
        _exit(0);
      }
      close(fds[1]);
      running.push_back(Child{pid, fds[0], *id, ""});
    }
    if (running.empty()) break;
    // Read from every child that has output; a child whose pipe reaches end
    // of file has ended (or closed it), so it is waited for and reported.
    std::vector<pollfd> polls;
    for (const Child& c : running) polls.push_back({c.fd, POLLIN, 0});
    if (poll(polls.data(), polls.size(), -1) < 0) {
      if (errno == EINTR) continue;
      status = absl::InternalError(absl::StrCat("poll failed: ", std::strerror(errno)));
      // Fall through: the children are still read to the end below.
      for (pollfd& p : polls) p.revents = POLLIN;
    }
    for (size_t i = polls.size(); i-- > 0;) {
      if (polls[i].revents == 0) continue;
      Child& child = running[i];
      char buffer[65536];
      const ssize_t n = read(child.fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        child.output.append(buffer, static_cast<size_t>(n));
        continue;
      }
      close(child.fd);
      int wait_status = 0;
      while (waitpid(child.pid, &wait_status, 0) < 0 && errno == EINTR) {
      }
      ForkResult result{child.task, std::move(child.output), wait_status, ""};
      if (WIFSIGNALED(wait_status)) {
        result.abnormal = absl::StrCat("killed by signal ", WTERMSIG(wait_status));
      } else if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
        result.abnormal = absl::StrCat("ended with status ", WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : wait_status);
      }
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      done(std::move(result));
    }
  }
  return status;
}

std::optional<std::pair<uint64_t, uint64_t>> ParseSeedRange(const std::string& text, uint64_t count_max) {
  const std::vector<std::string> ends = absl::StrSplit(text, "..");
  uint64_t from = 0;
  uint64_t to = 0;
  if (ends.size() != 2 || !absl::SimpleAtoi(ends[0], &from) || !absl::SimpleAtoi(ends[1], &to) || from > to ||
      to - from >= count_max) {
    return std::nullopt;
  }
  return std::make_pair(from, to);
}

std::string SeedRanges(std::vector<uint64_t> seeds) {
  std::sort(seeds.begin(), seeds.end());
  std::vector<std::string> parts;
  for (size_t i = 0; i < seeds.size();) {
    size_t j = i;
    while (j + 1 < seeds.size() && seeds[j + 1] == seeds[j] + 1) ++j;
    parts.push_back(j == i ? absl::StrCat(seeds[i]) : absl::StrCat(seeds[i], "-", seeds[j]));
    i = j + 1;
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace vmbsim::tools
