// inspect_tensors: what the analysis makes of each tensor of a file, as `onsager inspect` reports it.

#include <gtest/gtest.h>

#include <vector>

#include "onsager/core/error.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/spectral/inspect.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

TEST(InspectTensors, LayersSkipsAndTheirReasons) {
  const std::string dir = testing::test_dir("inspect");
  const std::vector<float> dense(40 * 20, 0.5f), bias(20, 0.1f), conv(16 * 8 * 3 * 3, 0.2f), tiny(3 * 2, 1.0f);
  write_safetensors(dir + "/m.safetensors", {{"fc.weight", {40, 20}, dense, {}},
                                             {"fc.bias", {20}, bias, {}},
                                             {"conv.weight", {16, 8, 3, 3}, conv, {}},
                                             {"small.weight", {3, 2}, tiny, {}}});
  const auto source = open_tensor_source(dir + "/m.safetensors");
  const InspectReport r = inspect_tensors(*source, LayerSelection{});
  ASSERT_EQ(r.tensors.size(), 4u);
  EXPECT_EQ(r.num_layers, 2u);  // fc and the pooled conv
  for (const InspectedTensor& t : r.tensors) {
    SCOPED_TRACE(t.tensor.name);
    if (t.tensor.name == "fc.weight") {
      ASSERT_EQ(t.layers.size(), 1u);
      EXPECT_EQ(t.becomes(), "dense layer 40x20 (Q 2.00, 20 eigenvalues)");
    } else if (t.tensor.name == "conv.weight") {
      EXPECT_EQ(t.becomes(), "conv2d: 9 slices of 16x8 pooled (72 eigenvalues)");
    } else {
      EXPECT_TRUE(t.layers.empty());
      EXPECT_FALSE(t.skipped.empty());
      EXPECT_EQ(t.becomes().rfind("skipped: ", 0), 0u) << t.becomes();
    }
  }
  // Per slice: the conv gives 9 layers; the JSON lists them under the tensor.
  const InspectReport ps = inspect_tensors(*source, LayerSelection{.min_evals = 1, .per_slice = true});
  const nlohmann::json j = to_json(ps);
  EXPECT_EQ(j["num_tensors"], 4);
  for (const auto& t : j["tensors"])
    if (t["name"] == "conv.weight") {
      EXPECT_EQ(t["layers"].size(), 9u);
      EXPECT_TRUE(t["skipped"].is_null());
    }
  EXPECT_THROW(inspect_tensors(*source, LayerSelection{.regex = "("}), Error);
}

}  // namespace
}  // namespace onsager
