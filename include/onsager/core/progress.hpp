#pragma once
// A progress bar on stderr for long work (epochs, AIS temperatures, layers).
// It draws only when stderr is a terminal and the caller did not ask for quiet.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace onsager {

class Progress {
 public:
  /// `total` units of work labelled `label`; draws nothing when `enabled` is false or stderr is no tty.
  Progress(std::string label, std::size_t total, bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Marks `n` more units done and redraws at most ten times a second.
  void advance(std::size_t n = 1);
  /// Weighted progress, for units of unequal cost (layers of different sizes): the bar and the ETA follow the
  /// work done (of `total_work`), the count still shows units. Call before advancing.
  void set_total_work(double total_work);
  /// Marks `n` units of `work` done before this run began (a resumed run): they fill the bar, not the rate.
  void skip(std::size_t n, double work);
  /// `n` more units done, of `work`; `detail` (the layer that finished, say) is shown after the times.
  void advance(std::size_t n, double work, std::string_view detail);
  /// Erases the bar.
  void finish();

  /// True when stderr is an interactive terminal.
  static bool stderr_is_tty();

 private:
  void draw();
  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  double total_work_ = 0, work_done_ = 0, work_skipped_ = 0;
  std::string detail_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace onsager
