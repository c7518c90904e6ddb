#include "mpi.hpp"

#include <sched.h>

#include <climits>
#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "onsager/core/error.hpp"

#ifdef ONSAGER_WITH_MPI
#include <mpi.h>
#endif

namespace onsager::cli {

bool mpi_supported() {
#ifdef ONSAGER_WITH_MPI
  return true;
#else
  return false;
#endif
}

std::string mpi_library() {
#ifdef ONSAGER_WITH_MPI
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  if (MPI_Get_library_version(text, &length) != MPI_SUCCESS) return "MPI";  // callable before MPI_Init
  const std::string version(text, static_cast<std::size_t>(length));
  return version.substr(0, version.find_first_of(",\n"));
#else
  return "none";
#endif
}

namespace {

// The first of `names` set in the environment to an integer in [least, INT_MAX]; -1 when none is.
int environment_number(std::initializer_list<const char*> names, long least) {
  for (const char* name : names)
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      char* end = nullptr;
      const long n = std::strtol(v, &end, 10);
      if (*end == '\0' && n >= least && n <= INT_MAX) return static_cast<int>(n);
    }
  return -1;
}

}  // namespace

int launched_processes() {
  // OpenMPI's mpirun, then PMIx (srun --mpi=pmix, prterun) and PMI/PMI-2 (srun --mpi=pmi2, MPICH's hydra).
  if (const int n = environment_number({"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}, 1); n > 0) return n;
  if (std::getenv("PMIX_RANK") != nullptr || std::getenv("PMI_RANK") != nullptr) return 1;  // size unknown here
  return 0;
}

int launched_rank() { return std::max(0, environment_number({"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}, 0)); }

int MpiSession::cores_bound() const {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return INT_MAX;  // unknown: no limit from here
  return std::max(1, CPU_COUNT(&set));
}

#ifdef ONSAGER_WITH_MPI

MpiSession::MpiSession() {
  if (launched_processes() == 0) return;
  int provided = 0;
  // Only the main thread calls MPI; the OpenMP threads of each process compute.
  ONSAGER_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
                "analyze: MPI could not start");
  active_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
}

bool MpiSession::any(bool failed) const {
  if (!active_) return failed;
  int mine = failed ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return all != 0;
}

MpiSession::~MpiSession() {
  if (active_) MPI_Finalize();
}

std::vector<std::string> MpiSession::gather(const std::string& text) const {
  if (!active_) return {text};
  // Gatherv counts and displacements are ints: every rank learns the total first, so all stop together past 2 GiB.
  long long length = static_cast<long long>(text.size()), all = 0;
  MPI_Allreduce(&length, &all, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  ONSAGER_CHECK(all <= INT_MAX, "analyze: the ranks' results come to {} bytes, more than one gather carries (2 GiB)",
                all);
  const int count = static_cast<int>(length);
  std::vector<int> lengths(rank_ == 0 ? static_cast<std::size_t>(size_) : 0);
  MPI_Gather(&count, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> offsets(lengths.size());
  for (std::size_t r = 1; r < lengths.size(); ++r) offsets[r] = offsets[r - 1] + lengths[r - 1];
  std::string buffer(rank_ == 0 ? static_cast<std::size_t>(all) : 0, '\0');
  MPI_Gatherv(text.data(), count, MPI_CHAR, buffer.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
              MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (std::size_t r = 0; r < lengths.size(); ++r)
    out.push_back(buffer.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lengths[r])));
  return out;
}

#else

MpiSession::MpiSession() {
  const int n = launched_processes();
  ONSAGER_CHECK(n <= 1,
                "analyze: started as {} MPI processes, but this onsager was built without MPI (install "
                "libopenmpi-dev, which scripts/setup.sh does, and rebuild)",
                n);
}

MpiSession::~MpiSession() = default;

bool MpiSession::any(bool failed) const { return failed; }

std::vector<std::string> MpiSession::gather(const std::string& text) const { return {text}; }

#endif

}  // namespace onsager::cli
