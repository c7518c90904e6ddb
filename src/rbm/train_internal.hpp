#pragma once
// Internals shared by the training sources (train_config.cpp, train_step.cpp, train.cpp): the random-stream
// tags of a run and the TAP settings of a configuration.

#include <cstdint>

#include "onsager/rbm/tap.hpp"
#include "onsager/rbm/train.hpp"

namespace onsager::detail {

// Stream tags: every random decision of a run has its own key.
enum : std::uint64_t {
  kTagShuffle = 1,
  kTagPositive = 2,
  kTagVisible = 3,
  kTagHidden = 4,
  kTagInitChains = 5,
  kTagMonitor = 6,
  kTagPseudo = 7,
  kTagInitWeights = 8,
  kTagTapReseed = 9,
};

/// The TAP fixed-point settings of a TAP-method configuration.
inline TapOptions tap_options(const TrainConfig& c) {
  TapOptions o;
  o.order = c.method == TrainMethod::tap3 ? TapOrder::third : c.method == TrainMethod::tap2 ? TapOrder::second : TapOrder::naive;
  o.max_iters = c.tap_iters;
  o.damping = static_cast<float>(c.tap_damping);
  o.tol = c.tap_tol;
  return o;
}

}  // namespace onsager::detail
