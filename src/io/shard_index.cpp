#include "shard_index.hpp"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"

namespace onsager::detail {

std::vector<ShardEntry> read_shard_index(const std::string& index_path, const std::string& kind,
                                         const std::string& expected) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(index_path, ec);
  ONSAGER_CHECK(!ec, "{}: cannot open ({})", index_path, ec.message());
  ONSAGER_CHECK(size <= 100'000'000, "{}: {} bytes is too large for a {}", index_path, size, kind);
  const nlohmann::json j = nlohmann::json::parse(read_file(index_path), nullptr, false);
  ONSAGER_CHECK(!j.is_discarded() && j.is_object(), "{}: not a JSON object", index_path);
  ONSAGER_CHECK(j.contains("weight_map") && j["weight_map"].is_object(),
                "{}: no \"weight_map\" object; is this a {}?", index_path, expected);
  std::vector<ShardEntry> entries;
  for (const auto& [name, file] : j["weight_map"].items()) {
    ONSAGER_CHECK(file.is_string(), "{}: weight_map[\"{}\"] is not a file name", index_path, name);
    const std::string f = file.get<std::string>();
    ONSAGER_CHECK(!f.empty() && f.find('/') == std::string::npos && f.find('\\') == std::string::npos && f != "." &&
                      f != "..",
                  "{}: weight_map[\"{}\"] = \"{}\" is not a plain file name in the index's directory", index_path,
                  name, f);
    entries.push_back({name, f});
  }
  ONSAGER_CHECK(!entries.empty(), "{}: the weight_map is empty", index_path);
  return entries;
}

}  // namespace onsager::detail
