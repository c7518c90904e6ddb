#include "onsager/io/tensor_source.hpp"

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/io/npy.hpp"
#include "onsager/io/safetensors.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;

bool is_floating(DType d) { return d == DType::f64 || d == DType::f32 || d == DType::f16 || d == DType::bf16; }

TensorEntry entry_of(const TensorInfo& t, std::size_t index) {
  return {t.name, t.shape, std::string(to_string(t.dtype)), is_floating(t.dtype), index};
}

class SafetensorsSource : public TensorSource {
 public:
  explicit SafetensorsSource(const std::string& path) : file_(path) {
    for (const TensorInfo& t : file_.tensors()) entries_.push_back(entry_of(t, entries_.size()));
  }
  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry& t) const override {
    std::vector<double> v = file_.read_f64(t.name);
    file_.release_pages(t.name);
    return v;
  }
  std::string format() const override { return "safetensors"; }

 private:
  SafetensorsFile file_;
  std::vector<TensorEntry> entries_;
};

class ShardedSource : public TensorSource {
 public:
  explicit ShardedSource(const std::string& index_path) {
    const fs::path dir = fs::path(index_path).parent_path();
    std::error_code ec;
    const auto size = fs::file_size(index_path, ec);
    ONSAGER_CHECK(!ec, "{}: cannot open ({})", index_path, ec.message());
    ONSAGER_CHECK(size <= 100'000'000, "{}: {} bytes is too large for a safetensors index", index_path, size);
    nlohmann::json j = nlohmann::json::parse(read_file(index_path), nullptr, false);
    ONSAGER_CHECK(!j.is_discarded() && j.is_object(), "{}: not a JSON object", index_path);
    ONSAGER_CHECK(j.contains("weight_map") && j["weight_map"].is_object(),
                  "{}: no \"weight_map\" object; is this a Hugging Face model.safetensors.index.json?", index_path);
    // Tensors in weight-map order grouped by shard, each shard opened (mapped and validated) once.
    std::map<std::string, std::size_t> shard_of_file;
    for (const auto& [name, file] : j["weight_map"].items()) {
      ONSAGER_CHECK(file.is_string(), "{}: weight_map[\"{}\"] is not a file name", index_path, name);
      const std::string f = file.get<std::string>();
      ONSAGER_CHECK(!f.empty() && f.find('/') == std::string::npos && f.find('\\') == std::string::npos && f != "." &&
                        f != "..",
                    "{}: weight_map[\"{}\"] = \"{}\" is not a plain file name in the index's directory", index_path,
                    name, f);
      auto [it, fresh] = shard_of_file.emplace(f, shards_.size());
      if (fresh) shards_.push_back(std::make_unique<SafetensorsFile>((dir / f).string()));
      const SafetensorsFile& shard = *shards_[it->second];
      const TensorInfo* t = shard.find(name);
      ONSAGER_CHECK(t != nullptr, "{}: tensor '{}' is listed in {} but {} does not hold it", index_path, name,
                    fs::path(index_path).filename().string(), shard.path());
      entries_.push_back(entry_of(*t, entries_.size()));
      shard_index_.push_back(it->second);
    }
    ONSAGER_CHECK(!entries_.empty(), "{}: the weight_map is empty", index_path);
  }
  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry& t) const override {
    const SafetensorsFile& shard = *shards_[shard_index_.at(t.index)];
    std::vector<double> v = shard.read_f64(t.name);
    shard.release_pages(t.name);
    return v;
  }
  std::string format() const override { return fmt::format("safetensors ({} shards)", shards_.size()); }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<TensorEntry> entries_;
  std::vector<std::size_t> shard_index_;
};

std::vector<std::int64_t> signed_shape(const std::vector<std::uint64_t>& s, const std::string& path) {
  std::vector<std::int64_t> out;
  for (auto v : s) {
    ONSAGER_CHECK(v <= static_cast<std::uint64_t>(INT64_MAX), "{}: dimension {} is too large", path, v);
    out.push_back(static_cast<std::int64_t>(v));
  }
  return out;
}

bool npy_floating(NpyDType d) { return d == NpyDType::f2 || d == NpyDType::f4 || d == NpyDType::f8; }

class NpySource : public TensorSource {
 public:
  explicit NpySource(const std::string& path) : path_(path) {
    // Validate the header (and the byte count) now; the data is read when asked for.
    std::ifstream in(path, std::ios::binary);
    ONSAGER_CHECK(in.good(), "{}: cannot open", path);
    std::string head(1 << 16, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    ONSAGER_CHECK(!ec, "{}: cannot open ({})", path, ec.message());
    const NpyHeader h = parse_npy_header_prefix(head, size, path);
    entries_.push_back({fs::path(path).stem().string(), signed_shape(h.shape, path), h.descr, npy_floating(h.dtype), 0});
  }
  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry&) const override { return read_npy_array(path_).values; }
  std::string format() const override { return "npy"; }

 private:
  std::string path_;
  std::vector<TensorEntry> entries_;
};

class NpzSource : public TensorSource {
 public:
  explicit NpzSource(const std::string& path) : file_(path) {
    for (const NpzMember& m : file_.members()) {
      const NpyHeader h = file_.header(m);
      entries_.push_back({m.name, signed_shape(h.shape, path), h.descr, npy_floating(h.dtype), entries_.size()});
    }
  }
  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry& t) const override { return file_.read(file_.members().at(t.index)).values; }
  std::string format() const override { return "npz"; }

 private:
  NpzFile file_;
  std::vector<TensorEntry> entries_;
};

std::string first_bytes(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  ONSAGER_CHECK(in.good(), "{}: cannot open", path);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

}  // namespace

std::unique_ptr<TensorSource> open_tensor_source(const std::string& path) {
  std::error_code ec;
  ONSAGER_CHECK(fs::exists(path, ec), "{}: no such file or directory", path);
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "model.safetensors.index.json", ec))
      return std::make_unique<ShardedSource>((dir / "model.safetensors.index.json").string());
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().ends_with(".safetensors.index.json"))
        return std::make_unique<ShardedSource>(e.path().string());
    if (fs::exists(dir / "model.safetensors", ec))
      return std::make_unique<SafetensorsSource>((dir / "model.safetensors").string());
    ONSAGER_FAIL("{}: a directory without model.safetensors or a *.safetensors.index.json", path);
  }
  const std::string head = first_bytes(path, 8);
  if (head.starts_with("\x93NUMPY")) return std::make_unique<NpySource>(path);
  if (head.starts_with("PK\x03\x04") || head.starts_with("PK\x05\x06")) return std::make_unique<NpzSource>(path);
  if (path.ends_with(".json")) return std::make_unique<ShardedSource>(path);
  if (path.ends_with(".npy") || path.ends_with(".npz"))
    ONSAGER_FAIL("{}: not a NumPy {} file (bad magic bytes)", path, path.substr(path.size() - 4));
  return std::make_unique<SafetensorsSource>(path);
}

}  // namespace onsager
