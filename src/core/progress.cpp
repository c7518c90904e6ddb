#include "onsager/core/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace onsager {

bool Progress::stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, std::size_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && total > 0 && stderr_is_tty()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(std::size_t n) {
  done_ += n;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done_ < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::set_total_work(double total_work) { total_work_ = total_work; }

void Progress::skip(std::size_t n, double work) {
  done_ += n;
  work_done_ += work;
  work_skipped_ += work;
}

void Progress::advance(std::size_t n, double work, std::string_view detail) {
  work_done_ += work;
  detail_ = detail;
  advance(n);
}

namespace {

// 42.0s, 3m05s, 1h02m
std::string duration_text(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto t = static_cast<long>(s + 0.5);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
}

}  // namespace

void Progress::draw() {
  constexpr int width = 30;
  const bool weighted = total_work_ > 0;
  const double frac = weighted ? std::min(1.0, work_done_ / total_work_)
                      : total_ ? static_cast<double>(done_) / static_cast<double>(total_)
                               : 1.0;
  // The rate is this run's: work skipped at the start (a resumed run) fills the bar but took no time here.
  const double skipped = weighted ? work_skipped_ / total_work_ : 0.0;
  const int filled = static_cast<int>(frac * width);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = frac > skipped ? elapsed * (1.0 - frac) / (frac - skipped) : 0.0;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(width, '.');
  std::string detail = detail_;
  if (detail.size() > 48) detail = "..." + detail.substr(detail.size() - 45);
  fmt::print(stderr, "\r\033[K{} [{}] {:3.0f}% {}/{} {} eta {} {}", label_, bar, 100 * frac, done_, total_,
             duration_text(elapsed), duration_text(eta), detail);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_) return;
  fmt::print(stderr, "\r\033[K");
  std::fflush(stderr);
  enabled_ = false;
}

}  // namespace onsager
