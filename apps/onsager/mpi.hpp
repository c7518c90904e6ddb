#pragma once
// The processes an MPI launcher (mpirun, mpiexec, srun) started for one command, for `onsager analyze`, which
// shares its layers among them (docs/analyze.md, "Many machines"). MPI is optional: a build without it runs alone
// and refuses a launch of several processes.

#include <string>
#include <vector>

namespace onsager::cli {

/// True when this build can share work among MPI processes.
bool mpi_supported();

/// The MPI library this build uses ("Open MPI v4.1.4"), or "none" for a build without MPI.
std::string mpi_library();

/// The number of processes the launcher started, read from its environment (OpenMPI's, PMIx's, PMI's); 0 when
/// the command was not started by one.
int launched_processes();

/// This process's rank as the launcher's environment gives it (0 when not started by one).
int launched_rank();

/// MPI for the life of the object: initialised when the command was started by a launcher (and the build has
/// MPI), otherwise one process of one.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  /// True when MPI was initialised (the command was started by a launcher, perhaps as one process).
  bool active() const { return active_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  /// Processes of this one's machine (this one included): those that share its cores.
  int local_size() const { return local_size_; }
  /// The cores this process may run on (its CPU affinity, which a launcher's binding sets).
  int cores_bound() const;
  /// True on every process when `failed` is true on any; every process must call it.
  bool any(bool failed) const;
  /// Every process's `text`, in rank order, on rank 0; an empty list on the others. Every process must call it.
  std::vector<std::string> gather(const std::string& text) const;

 private:
  bool active_ = false;
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

}  // namespace onsager::cli
