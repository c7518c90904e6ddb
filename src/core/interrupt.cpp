#include "onsager/core/interrupt.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace onsager {
namespace {

std::atomic<InterruptCheck> g_check{nullptr};
std::atomic<bool> g_requested{false};
std::atomic<long long> g_last_poll_ns{0};
std::atomic<std::thread::id> g_owner{};
std::mutex g_poll_mutex;

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void set_interrupt_check(InterruptCheck check) {
  std::lock_guard lock(g_poll_mutex);
  g_owner.store(std::this_thread::get_id());
  g_check.store(check);
  g_requested.store(false);
  g_last_poll_ns.store(0);
}

bool interrupt_requested() {
  if (g_requested.load(std::memory_order_relaxed)) return true;
  const InterruptCheck check = g_check.load(std::memory_order_acquire);
  if (check == nullptr || std::this_thread::get_id() != g_owner.load(std::memory_order_relaxed)) return false;
  constexpr long long kPollNs = 50'000'000;
  const long long now = now_ns();
  if (now - g_last_poll_ns.load(std::memory_order_relaxed) < kPollNs) return false;
  g_last_poll_ns.store(now, std::memory_order_relaxed);
  if (check()) g_requested.store(true);
  return g_requested.load();
}

void throw_if_interrupted(const char* where) {
  if (interrupt_requested()) throw Interrupted(fmt::format("{}: interrupted", where));
}

}  // namespace onsager
