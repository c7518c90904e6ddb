#include "onsager/io/tensor_source.hpp"

#include <filesystem>
#include <fstream>
#include <cctype>
#include <initializer_list>
#include <map>

#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "confined_path.hpp"
#include "quote_name.hpp"
#include "shard_index.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/io/dtype.hpp"
#include "onsager/io/model_formats.hpp"
#include "io/npy.hpp"
#include "onsager/io/safetensors.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;


TensorEntry entry_of(const TensorInfo& t, std::size_t index) {
  TensorEntry e;
  e.name = t.name, e.shape = t.shape, e.dtype = std::string(to_string(t.dtype));
  e.floating = is_floating(t.dtype), e.index = index;
  return e;
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
  bool read_block(const TensorEntry& t, std::size_t row, std::size_t nrows, std::size_t col, std::size_t ncols,
                  float* out) const override {
    file_.read_block_f32(t.name, row, nrows, col, ncols, out);
    return true;
  }
  void release(const TensorEntry& t) const override { file_.release_pages(t.name); }
  std::string format() const override { return "safetensors"; }

 private:
  SafetensorsFile file_;
  std::vector<TensorEntry> entries_;
};

class ShardedSource : public TensorSource {
 public:
  explicit ShardedSource(const std::string& index_path) {
    // Tensors in weight-map order grouped by shard, each shard opened (mapped and validated) once.
    std::map<std::string, std::size_t> shard_of_file;
    for (const auto& [name, f] :
         detail::read_shard_index(index_path, "safetensors index", "Hugging Face model.safetensors.index.json")) {
      auto [it, fresh] = shard_of_file.emplace(f, shards_.size());
      if (fresh) shards_.push_back(std::make_unique<SafetensorsFile>(detail::confined_path(index_path, f, "shard")));
      const SafetensorsFile& shard = *shards_[it->second];
      const TensorInfo* t = shard.find(name);
      ONSAGER_CHECK(t != nullptr, "{}: tensor '{}' is listed in {} but {} does not hold it", index_path, name,
                    fs::path(index_path).filename().string(), shard.path());
      entries_.push_back(entry_of(*t, entries_.size()));
      shard_index_.push_back(it->second);
    }
  }
  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry& t) const override {
    const SafetensorsFile& shard = *shards_[shard_index_.at(t.index)];
    std::vector<double> v = shard.read_f64(t.name);
    shard.release_pages(t.name);
    return v;
  }
  bool read_block(const TensorEntry& t, std::size_t row, std::size_t nrows, std::size_t col, std::size_t ncols,
                  float* out) const override {
    shards_[shard_index_.at(t.index)]->read_block_f32(t.name, row, nrows, col, ncols, out);
    return true;
  }
  void release(const TensorEntry& t) const override { shards_[shard_index_.at(t.index)]->release_pages(t.name); }
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
    TensorEntry e;
    e.name = fs::path(path).stem().string(), e.shape = signed_shape(h.shape, path), e.dtype = h.descr;
    e.floating = is_floating(h.dtype);
    entries_.push_back(std::move(e));
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
      TensorEntry e;
      e.name = m.name, e.shape = signed_shape(h.shape, path), e.dtype = h.descr;
      e.floating = is_floating(h.dtype), e.index = entries_.size();
      entries_.push_back(std::move(e));
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

bool has_extension(const std::string& path, std::initializer_list<const char*> exts) {
  std::string e = fs::path(path).extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* x : exts)
    if (e == x) return true;
  return false;
}

/// The name of a zip archive's first member (from its local header), or "" when it cannot be read.
std::string first_zip_member(const std::string& head) {
  if (head.size() < 30) return {};
  const auto u16 = [&](std::size_t at) {
    return static_cast<std::size_t>(static_cast<unsigned char>(head[at])) |
           static_cast<std::size_t>(static_cast<unsigned char>(head[at + 1])) << 8;
  };
  const std::size_t len = u16(26);
  if (head.size() < 30 + len) return {};
  return head.substr(30, len);
}

/// A .json file: a shard index, whose weight_map says whether the shards are safetensors or PyTorch files
/// (pytorch_model.bin.index.json), or else a TF.js model.json or weights manifest.
std::unique_ptr<TensorSource> open_json(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (!ec && size <= 100'000'000) {
    const nlohmann::json j = nlohmann::json::parse(read_file(path), nullptr, false);
    if (j.is_object() && j.contains("weight_map")) {
      const nlohmann::json& map = j["weight_map"];
      if (map.is_object() && !map.empty() && map.begin()->is_string() &&
          !map.begin()->get<std::string>().ends_with(".safetensors"))
        return open_pytorch_sharded_source(path);
      return std::make_unique<ShardedSource>(path);
    }
  }
  if (path.ends_with(".index.json")) return std::make_unique<ShardedSource>(path);  // says what it lacks
  return open_tfjs_source(path);
}

}  // namespace

bool TensorEntry::float64() const {
  // The vocabulary's spellings (safetensors, NumPy/PyTorch names), then NumPy's descr and ONNX's name.
  return dtype_from_safetensors_name(dtype) == DType::f64 || dtype_from_name(dtype) == DType::f64 || dtype == "<f8" ||
         dtype == "DOUBLE";
}

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
    if (fs::exists(dir / "pytorch_model.bin.index.json", ec))
      return open_pytorch_sharded_source((dir / "pytorch_model.bin.index.json").string());
    if (fs::exists(dir / "pytorch_model.bin", ec)) return open_pytorch_source((dir / "pytorch_model.bin").string());
    if (fs::exists(dir / "model.json", ec)) return open_tfjs_source((dir / "model.json").string());
    if (fs::exists(dir / "model.onnx", ec)) return open_onnx_source((dir / "model.onnx").string());
    ONSAGER_FAIL(
        "{}: a directory without model.safetensors, a *.safetensors.index.json, pytorch_model.bin(.index.json), "
        "model.json or model.onnx",
        path);
  }
  // Only regular files are read (a FIFO or device named like a model would block or never end).
  ONSAGER_CHECK(fs::is_regular_file(path, ec), "{}: not a regular file", path);
  const std::string head = first_bytes(path, 512);
  if (head.starts_with("\x93NUMPY")) return std::make_unique<NpySource>(path);
  if (head.starts_with(std::string_view("\x89HDF\r\n\x1a\n", 8))) return open_keras_h5_source(path);
  if (head.starts_with("PK\x03\x04") || head.starts_with("PK\x05\x06")) {
    if (has_extension(path, {".npz"})) return std::make_unique<NpzSource>(path);
    const std::string first = first_zip_member(head);
    if (first.ends_with(".npy")) return std::make_unique<NpzSource>(path);
    // torch.save writes "<archive>/data.pkl" first (older versions "<archive>/version"); let the reader judge.
    if (first.ends_with("data.pkl") || first.ends_with("/version") || first.ends_with(".data/version") ||
        has_extension(path, {".pt", ".pth", ".bin", ".ckpt"}))
      return open_pytorch_source(path);
    return std::make_unique<NpzSource>(path);
  }
  // A pickle (protocol 2+) at the start: PyTorch's legacy (pre-1.6) format; the reader explains.
  if (head.starts_with("\x80") && has_extension(path, {".pt", ".pth", ".bin", ".ckpt", ".pkl"}))
    return open_pytorch_source(path);
  if (has_extension(path, {".onnx"})) return open_onnx_source(path);
  if (has_extension(path, {".h5", ".hdf5"})) return open_keras_h5_source(path);
  if (has_extension(path, {".pt", ".pth", ".bin", ".ckpt"})) return open_pytorch_source(path);
  if (has_extension(path, {".json"})) return open_json(path);
  if (has_extension(path, {".npy", ".npz"}))
    ONSAGER_FAIL("{}: not a NumPy {} file (bad magic bytes)", path, path.substr(path.size() - 4));
  return std::make_unique<SafetensorsSource>(path);
}

std::string Dequantization::describe() const {
  const std::string scheme = per_channel() ? fmt::format("per-channel (axis {})", axis) : std::string("per-tensor");
  return scale_known() ? fmt::format("{}, scale {}", scheme, detail::quote_name(scale))
                       : scheme + ", scale unknown (values are q - zero_point)";
}

std::vector<double> permute_axes(const std::vector<double>& values, const std::vector<std::int64_t>& stored_shape,
                                 const std::vector<int>& perm) {
  const std::size_t rank = stored_shape.size();
  ONSAGER_CHECK(perm.size() == rank, "permute_axes: {} axes for a rank-{} tensor", perm.size(), rank);
  std::vector<bool> seen(rank, false);
  for (int p : perm) {
    ONSAGER_CHECK(p >= 0 && static_cast<std::size_t>(p) < rank && !seen[static_cast<std::size_t>(p)],
                  "permute_axes: {} is not a permutation of 0..{}", fmt::join(perm, ","), rank - 1);
    seen[static_cast<std::size_t>(p)] = true;
  }
  std::size_t numel = 1;
  for (auto d : stored_shape) numel *= static_cast<std::size_t>(d);
  ONSAGER_CHECK(values.size() == numel, "permute_axes: {} values for {} elements", values.size(), numel);
  if (rank < 2) return values;
  // Strides of the stored tensor, then walk the output in C order, carrying the input offset.
  std::vector<std::size_t> in_stride(rank, 1), out_dim(rank), step(rank);
  for (std::size_t i = rank - 1; i > 0; --i) in_stride[i - 1] = in_stride[i] * static_cast<std::size_t>(stored_shape[i]);
  for (std::size_t i = 0; i < rank; ++i) {
    out_dim[i] = static_cast<std::size_t>(stored_shape[static_cast<std::size_t>(perm[i])]);
    step[i] = in_stride[static_cast<std::size_t>(perm[i])];
  }
  std::vector<double> out(numel);
  std::vector<std::size_t> idx(rank, 0);
  std::size_t src = 0;
  for (std::size_t k = 0; k < numel; ++k) {
    out[k] = values[src];
    for (std::size_t a = rank; a-- > 0;) {
      if (++idx[a] < out_dim[a]) {
        src += step[a];
        break;
      }
      src -= step[a] * (out_dim[a] - 1);
      idx[a] = 0;
    }
  }
  return out;
}

}  // namespace onsager
