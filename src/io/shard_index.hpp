#pragma once
// The index of a sharded checkpoint (model.safetensors.index.json, pytorch_model.bin.index.json): a JSON
// object whose "weight_map" names, for every tensor, the shard file that holds it.

#include <string>
#include <vector>

namespace onsager::detail {

struct ShardEntry {
  std::string tensor;  ///< the tensor's name
  std::string file;    ///< its shard: a plain file name in the index's directory
};

/// The weight_map of the index at `index_path`, in nlohmann::json's order (sorted by tensor name). `kind`
/// ("safetensors index") and `expected` (the usual file name) word the messages. Throws onsager::Error naming
/// the index for a file over 100 MB, bad JSON, no weight_map object, a non-string entry, a shard name that is not
/// a plain file name, or an empty map.
std::vector<ShardEntry> read_shard_index(const std::string& index_path, const std::string& kind,
                                         const std::string& expected);

}  // namespace onsager::detail
