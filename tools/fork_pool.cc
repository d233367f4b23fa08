#include "tools/fork_pool.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/status/statusor.h"
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

// "" for a child that ended with exit 0, else how it ended.
std::string AbnormalEnd(int wait_status) {
  if (WIFSIGNALED(wait_status)) return absl::StrCat("killed by signal ", WTERMSIG(wait_status));
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return absl::StrCat("ended with status ", WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : wait_status);
  }
  return "";
}

int WaitFor(pid_t pid) {
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  return wait_status;
}

// Exactly `size` bytes from `fd`; false at end of file or on an error.
bool ReadAll(int fd, void* data, size_t size) {
  size_t got = 0;
  while (got < size) {
    const ssize_t n = read(fd, static_cast<char*>(data) + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// A long-lived child of RunPooled, and the one task it is running, if any.
struct Worker {
  pid_t pid = 0;
  int fd = -1;  // The parent's end of a socket pair: task ids out, results in.
  std::optional<size_t> task;
  std::string input;  // What arrived of the current result (length first).
};

// The worker's side: task ids in, results (a 64-bit length, then the text)
// out, until the parent closes its end.
[[noreturn]] void ServeTasks(int fd, const std::function<std::string(size_t)>& task) {
  // The runs' own output is not the caller's.
  if (std::freopen("/dev/null", "w", stdout) == nullptr || std::freopen("/dev/null", "w", stderr) == nullptr) {
    _exit(70);
  }
  uint64_t id = 0;
  while (ReadAll(fd, &id, sizeof(id))) {
    const std::string output = task(static_cast<size_t>(id));
    const uint64_t size = output.size();
    WriteAll(fd, std::string(reinterpret_cast<const char*>(&size), sizeof(size)) + output);
  }
  _exit(0);
}

// Starts a worker; its end of the socket pair is `fd` in the parent.
absl::StatusOr<Worker> StartWorker(const std::vector<Worker>& others,
                                   const std::function<std::string(size_t)>& task) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(absl::StrCat("cannot create a socket pair: ", std::strerror(errno)));
  }
  std::fflush(stdout);  // Or the child's copy of the buffers is printed again.
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("cannot start a run: ", std::strerror(errno)));
  }
  if (pid == 0) {
    close(fds[0]);
    for (const Worker& w : others) close(w.fd);
    ServeTasks(fds[1], task);
  }
  close(fds[1]);
  return Worker{pid, fds[0], std::nullopt, ""};
}

// Sends a task id; false when the worker has gone (its end is closed).
bool SendTask(const Worker& worker, size_t id) {
  const uint64_t value = id;
  size_t sent = 0;
  while (sent < sizeof(value)) {
    const ssize_t n = send(worker.fd, reinterpret_cast<const char*>(&value) + sent, sizeof(value) - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// The length of a finished result at the front of `input`, if one is there.
std::optional<size_t> CompleteResult(const std::string& input) {
  uint64_t size = 0;
  if (input.size() < sizeof(size)) return std::nullopt;
  std::memcpy(&size, input.data(), sizeof(size));
  if (input.size() - sizeof(size) < size) return std::nullopt;
  return static_cast<size_t>(size);
}

// Waits until one of `polls` is readable. False when interrupted (ask
// again). On any other error `*status` records it and every descriptor is
// marked readable: the caller still reads each to its end.
bool WaitReadable(std::vector<pollfd>& polls, absl::Status* status) {
  if (poll(polls.data(), polls.size(), -1) >= 0) return true;
  if (errno == EINTR) return false;
  *status = absl::InternalError(absl::StrCat("poll failed: ", std::strerror(errno)));
  for (pollfd& p : polls) p.revents = POLLIN;
  return true;
}

}  // namespace

absl::Status RunPooled(unsigned jobs, const std::function<std::optional<size_t>()>& next,
                       const std::function<std::string(size_t)>& task,
                       const std::function<void(ForkResult)>& done) {
  std::vector<Worker> workers;
  absl::Status status;
  bool exhausted = false;
  const auto busy = [&] {
    return static_cast<size_t>(std::count_if(workers.begin(), workers.end(), [](const Worker& w) { return w.task.has_value(); }));
  };
  // Reaps a worker whose end has closed; reports its task, if it had one.
  const auto retire = [&](size_t i) {
    Worker worker = std::move(workers[i]);
    workers.erase(workers.begin() + static_cast<std::ptrdiff_t>(i));
    close(worker.fd);
    const int wait_status = WaitFor(worker.pid);
    if (!worker.task.has_value()) return;
    // What the task had sent is incomplete: it never returned.
    std::string abnormal = AbnormalEnd(wait_status);
    done(ForkResult{*worker.task, "", wait_status, std::move(abnormal)});
  };
  while (true) {
    while (status.ok() && !exhausted && busy() < jobs) {
      const std::optional<size_t> id = next();
      if (!id.has_value()) {
        exhausted = true;
        break;
      }
      // An idle worker, else a new one; one that has gone is replaced.
      bool started = false;
      while (!started && status.ok()) {
        auto idle = std::find_if(workers.begin(), workers.end(), [](const Worker& w) { return !w.task.has_value(); });
        if (idle == workers.end()) {
          absl::StatusOr<Worker> worker = StartWorker(workers, task);
          if (!worker.ok()) {
            status = worker.status();
            break;
          }
          workers.push_back(*std::move(worker));
          idle = workers.end() - 1;
        }
        if (SendTask(*idle, *id)) {
          idle->task = *id;
          started = true;
        } else {
          retire(static_cast<size_t>(idle - workers.begin()));
        }
      }
    }
    if (busy() == 0) break;
    std::vector<pollfd> polls;
    for (const Worker& w : workers) polls.push_back({w.fd, POLLIN, 0});
    if (!WaitReadable(polls, &status)) continue;
    for (size_t i = polls.size(); i-- > 0;) {
      if (polls[i].revents == 0) continue;
      Worker& worker = workers[i];
      char buffer[65536];
      const ssize_t n = read(worker.fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        retire(i);  // Ended (a crash, or an exit inside its task) or closed.
        continue;
      }
      worker.input.append(buffer, static_cast<size_t>(n));
      const std::optional<size_t> size = CompleteResult(worker.input);
      if (!size.has_value()) continue;
      if (!worker.task.has_value() || worker.input.size() != sizeof(uint64_t) + *size) {
        // More than one result: the worker broke the protocol.
        kill(worker.pid, SIGKILL);
        retire(i);
        continue;
      }
      ForkResult result{*worker.task, worker.input.substr(sizeof(uint64_t)), 0, ""};
      worker.task.reset();
      worker.input.clear();
      done(std::move(result));
    }
  }
  // Closing the parent's end tells each idle worker to leave.
  for (Worker& w : workers) close(w.fd);
  for (Worker& w : workers) WaitFor(w.pid);
  return status;
}

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
    if (!WaitReadable(polls, &status)) continue;
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
      const int wait_status = WaitFor(child.pid);
      ForkResult result{child.task, std::move(child.output), wait_status, AbnormalEnd(wait_status)};
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
