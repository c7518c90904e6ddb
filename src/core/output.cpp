#include "onsager/core/output.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "onsager/core/error.hpp"

namespace fs = std::filesystem;

namespace onsager {
namespace {

struct FileId {
  dev_t dev;
  ino_t ino;
  bool is_dir;
};

std::optional<FileId> file_id(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino, S_ISDIR(st.st_mode)};
}

// The absolute path with "." and ".." removed and the links of its existing part resolved.
std::string normal_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? fs::absolute(path).lexically_normal().string() : p.string();
}

// The cleanup registry: fixed storage, so the signal handler touches no allocator.
constexpr int kSlots = 64;
constexpr std::size_t kMaxPath = 4096;
struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 holds a path to remove on a signal
  char path[kMaxPath];
};
std::array<Slot, kSlots> g_slots;

// Installed with SA_RESETHAND, so the disposition is the default again when raise() ends the process.
extern "C" void cleanup_and_reraise(int sig) {
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
  std::raise(sig);
}

std::string self_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : raw)
    if (c == '\0') c = ' ';
  while (!raw.empty() && raw.back() == ' ') raw.pop_back();
  if (raw.size() > 200) raw = raw.substr(0, 200) + "...";
  return raw;
}

}  // namespace

namespace detail {

int register_temporary(const std::string& path) {
  if (path.size() + 1 > kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_slots[static_cast<std::size_t>(i)].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(g_slots[static_cast<std::size_t>(i)].path, path.c_str(), path.size() + 1);
      g_slots[static_cast<std::size_t>(i)].state.store(2, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void unregister_temporary(int slot) {
  if (slot >= 0 && slot < kSlots) g_slots[static_cast<std::size_t>(slot)].state.store(0, std::memory_order_release);
}

}  // namespace detail

void check_outputs(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& out = outputs[i];
    if (out.path.empty()) continue;
    const std::optional<FileId> oid = file_id(out.path);
    ONSAGER_CHECK(!(oid && oid->is_dir), "{} {}: is a directory; give a file name", out.role, out.path);
    {
      std::error_code ec;
      const fs::path dir = fs::absolute(out.path, ec).parent_path();
      ONSAGER_CHECK(fs::is_directory(dir, ec), "{} {}: directory {} does not exist", out.role, out.path, dir.string());
    }
    const std::string onorm = normal_path(out.path);
    for (std::size_t j = i + 1; j < outputs.size(); ++j) {
      const NamedPath& other = outputs[j];
      if (other.path.empty()) continue;
      const std::optional<FileId> pid = file_id(other.path);
      const bool same = (oid && pid && oid->dev == pid->dev && oid->ino == pid->ino) || onorm == normal_path(other.path);
      ONSAGER_CHECK(!same, "{} {} and {} {} are the same file; give each output its own name", out.role, out.path,
                    other.role, other.path);
    }
    // The lock file the run will create and remove beside the output must not be anything else either.
    const std::string lock = lock_path_for(out.path);
    for (const NamedPath& other : outputs)
      ONSAGER_CHECK(other.path.empty() || normal_path(other.path) != lock,
                    "{} {} is the lock file of {} {} (onsager creates and removes {} while it writes); choose another "
                    "name", other.role, other.path, out.role, out.path, lock);
    for (const NamedPath& in : inputs) {
      if (in.path.empty()) continue;
      const std::optional<FileId> iid = file_id(in.path);
      if (!iid) continue;  // a missing input destroys nothing (its reader reports it)
      const std::string inorm = normal_path(in.path);
      const bool same = (oid && oid->dev == iid->dev && oid->ino == iid->ino) || onorm == inorm;
      ONSAGER_CHECK(!same, "{} {} is the same file as {} {}; writing it would destroy the input, so choose another "
                    "output", out.role, out.path, in.role, in.path);
      ONSAGER_CHECK(inorm != lock,
                    "{} {} is the lock file of {} {} (onsager creates and removes it while it writes); rename the "
                    "input or choose another output", in.role, in.path, out.role, out.path);
    }
  }
}

std::string lock_path_for(const std::string& path) { return normal_path(path) + ".lock"; }

int remove_stale_temporaries(const std::string& path) {
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string prefix = p.filename().string() + ".tmp.";
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const long pid = std::stol(digits);
    if (pid == static_cast<long>(::getpid())) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // its writer may still be running
    std::error_code rm;
    if (fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

OutputLock::OutputLock(const std::string& path) : path_(path), lock_path_(lock_path_for(path)) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    // O_NOFOLLOW: a symbolic link planted at the lock's name is refused, not followed and truncated.
    const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    ONSAGER_CHECK(fd >= 0, "{}: cannot create its lock file {} ({})", path_, lock_path_, std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder;
      char buf[512];
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      if (n > 0) holder.assign(buf, static_cast<std::size_t>(n));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      ::close(fd);
      ONSAGER_CHECK(err != EWOULDBLOCK, "{} is being written by another run ({}); wait for it to finish or choose "
                    "another output", path_, holder.empty() ? std::string("holder unknown") : "pid " + holder);
      ONSAGER_FAIL("{}: cannot lock {} ({})", path_, lock_path_, std::strerror(err));
    }
    // The file may have been removed by its previous holder between our open and flock: then the lock is on
    // an orphan, and the name must be opened again.
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      fd_ = fd;
      break;
    }
    ::close(fd);
  }
  ONSAGER_CHECK(fd_ >= 0, "{}: could not take its lock {} (it kept being replaced)", path_, lock_path_);
  const std::string who = std::to_string(::getpid()) + ": " + self_command_line() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, who.data(), who.size(), 0) != static_cast<ssize_t>(who.size())) {
    // The lock holds without its note; the holder's name is only for the message of a second writer.
  }
  slot_ = detail::register_temporary(lock_path_);
  remove_stale_temporaries(path_);
}

OutputLock::OutputLock(OutputLock&& other) noexcept
    : path_(std::move(other.path_)), lock_path_(std::move(other.lock_path_)), fd_(other.fd_), slot_(other.slot_) {
  other.fd_ = -1;
  other.slot_ = -1;
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  detail::unregister_temporary(slot_);
  // Remove the name only while it is still the file this lock holds.
  struct stat held {}, named {};
  if (::fstat(fd_, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
      held.st_ino == named.st_ino)
    ::unlink(lock_path_.c_str());
  ::close(fd_);
}

void refuse_special_file(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // missing: the reader's own message says so
  const char* kind = S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                     : S_ISCHR(st.st_mode) ? "a character device"
                     : S_ISBLK(st.st_mode) ? "a block device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : nullptr;
  ONSAGER_CHECK(kind == nullptr, "{}{}{}: is {}, not a regular file; onsager reads files only", what,
                what.empty() ? "" : " ", path, kind ? kind : "");
}

void install_cleanup_handlers() {
  struct sigaction sa {};
  sa.sa_handler = cleanup_and_reraise;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    // Keep a caller's "ignore" (nohup): only default dispositions are replaced.
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::sigaction(sig, &sa, nullptr);
  }
}

}  // namespace onsager
