#pragma once
// Outputs that never lose a file: an output is refused when it is the same file as an input (by device and
// inode, so links and "./" spellings are seen through), locked for the duration of a run so that a second
// writer is told who holds it, and written through temporaries ("PATH.tmp.PID") that are removed on
// SIGINT/SIGTERM and, when a SIGKILL left them, by the next run that writes the same output.

#include <string>
#include <string_view>
#include <vector>

namespace onsager {

/// One file a command reads or writes, with the name a message should give it (a flag, or "the model").
struct NamedPath {
  std::string path;
  std::string role;  ///< e.g. "--out", "the input model"
};

/// Throws onsager::Error when an output's directory does not exist, when two outputs are the same path or file,
/// when an output is the same file as one of `inputs` (an input that does not exist is ignored; directories
/// count: nothing is written over one), or when an output's lock file (lock_path_for) would be an input or
/// another output. Outputs that do not exist yet are compared by their absolute, normalised path.
void check_outputs(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs);

/// An exclusive lock on the output `path` for the lifetime of the object: "PATH.lock" is created and
/// flock()ed, the holder's pid and command line written into it, and removed again on destruction (and by
/// the signal handler of install_cleanup_handlers). Taking the lock also removes stale temporaries of `path`
/// left by processes that no longer exist. Throws onsager::Error naming the holder when another process
/// holds the lock, and when the lock file cannot be created.
class OutputLock {
 public:
  explicit OutputLock(const std::string& path);
  ~OutputLock();
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&&) = delete;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_, lock_path_;
  int fd_ = -1;
  int slot_ = -1;
};

/// The lock file of an output: "PATH.lock", PATH absolute with its links resolved, so that every name of a file
/// reached through symbolic links takes the same lock (a hard link is another name, with its own lock).
std::string lock_path_for(const std::string& path);

/// Removes "PATH.tmp.PID" files whose process no longer exists; returns how many were removed.
int remove_stale_temporaries(const std::string& path);

/// Throws onsager::Error when `path` (after following links) is a FIFO, a device (a link to /dev/zero) or a
/// socket, before anything opens it: reading one would hang or never end. Regular files, directories and
/// missing paths pass (the reader reports those). `what` starts the message (e.g. "read_file:").
void refuse_special_file(const std::string& path, std::string_view what);

/// Installs SIGINT/SIGTERM/SIGHUP handlers that remove the temporaries and lock files of writes in progress,
/// then let the signal end the process as it would have. For programs (the CLI); a library caller that has
/// its own handlers need not call it.
void install_cleanup_handlers();

namespace detail {
/// The registry the handlers clean: a path is registered for the duration of a write (returns its slot, or
/// -1 when the registry is full, in which case only the handler misses it).
int register_temporary(const std::string& path);
void unregister_temporary(int slot);
}  // namespace detail

}  // namespace onsager
