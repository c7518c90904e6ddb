// Named data sets with fixed splits, and data given by path. See docs/data.md for the table of splits.

#include "onsager/data/dataset.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <numeric>

#include <fmt/ranges.h>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/random.hpp"
#include "onsager/data/readers.hpp"
#include "onsager/data/transforms.hpp"


namespace onsager {
namespace {

namespace fs = std::filesystem;

// Sizes of the named data sets' `all` order and of their held-out splits.
constexpr std::size_t digits_rows = 1797, digits_test = 360, digits_validation = 180;
constexpr std::size_t mnist_rows = 10000, mnist_test = 2000, mnist_validation = 1000;
constexpr std::size_t fashion_train_rows = 60000, fashion_test_rows = 10000, fashion_validation = 5000;

std::string join(const std::string& dir, const std::string& a, const std::string& b = "") {
  fs::path p = fs::path(dir) / a;
  if (!b.empty()) p /= b;
  return p.string();
}

std::vector<std::size_t> iota_rows(std::size_t begin, std::size_t end) {
  std::vector<std::size_t> r(end - begin);
  std::iota(r.begin(), r.end(), begin);
  return r;
}

// test = perm[0, t), validation = perm[t, t + v), train = perm[t + v, n), trainval = perm[t, n).
std::vector<std::size_t> permuted_split(std::size_t n, std::size_t t, std::size_t v, Split split) {
  if (split == Split::all) return iota_rows(0, n);
  const std::vector<std::size_t> p = random_permutation(n, split_seed);
  auto part = [&](std::size_t a, std::size_t b) { return std::vector<std::size_t>(p.begin() + a, p.begin() + b); };
  switch (split) {
    case Split::test: return part(0, t);
    case Split::validation: return part(t, t + v);
    case Split::train: return part(t + v, n);
    case Split::trainval: return part(t, n);
    case Split::all: break;
  }
  return iota_rows(0, n);
}

void require_installed(const std::string& name, const std::string& file) {
  ONSAGER_CHECK(path_exists(file), "data set '{}' is not installed (expected {}); run scripts/setup.sh", name, file);
}

// Runs a reader on a named data set's file, adding what to do to its error message.
template <class F>
auto with_setup_hint(const std::string& hint, F&& read) {
  try {
    return read();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("scripts/setup.sh") != std::string::npos) throw;
    throw Error(what + "; " + hint);
  }
}

void require_labels(const Dataset& d, const std::string& file, int classes) {
  for (std::size_t i = 0; i < d.labels.size(); ++i)
    ONSAGER_CHECK(d.labels[i] >= 0 && d.labels[i] < classes, "{}: label {} of sample {} is outside 0..{}", file,
                  d.labels[i], i, classes - 1);
}

Dataset load_digits(const std::string& data_dir, Split split) {
  const std::string file = join(data_dir, "digits", "digits.csv.gz");
  require_installed("digits", file);
  const std::string hint = fmt::format("delete {} and run scripts/setup.sh again", join(data_dir, "digits"));
  Dataset d = with_setup_hint(hint, [&] {
    Dataset r = read_csv(file, true, 16);
    ONSAGER_CHECK(static_cast<std::size_t>(r.x.rows()) == digits_rows && r.x.cols() == 64,
                  "{}: holds {} rows of {} pixels, expected {} rows of 64", file, r.x.rows(), r.x.cols(), digits_rows);
    require_labels(r, file, 10);
    return r;
  });
  d.name = "digits";
  d.height = d.width = 8;
  return split == Split::all ? d : take_rows(d, split_rows("digits", split));
}

Dataset load_mnist(const std::string& data_dir, Split split) {
  const std::string dir = join(data_dir, "mnist");
  require_installed("mnist", join(dir, "0.json"));
  const std::string hint = fmt::format("delete {} and run scripts/setup.sh again", dir);
  Dataset d = with_setup_hint(hint, [&] {
    Dataset r = read_mnist_json_dir(dir);
    ONSAGER_CHECK(static_cast<std::size_t>(r.x.rows()) == mnist_rows, "{}: holds {} images, expected {}", dir,
                  r.x.rows(), mnist_rows);
    return r;
  });
  d.name = "mnist";
  return split == Split::all ? d : take_rows(d, split_rows("mnist", split));
}

Dataset load_fashion_file(const std::string& data_dir, const std::string& prefix, std::size_t rows) {
  const std::string dir = join(data_dir, "fashion-mnist");
  const std::string images = join(dir, prefix + "-images-idx3-ubyte.gz");
  const std::string labels = join(dir, prefix + "-labels-idx1-ubyte.gz");
  require_installed("fashion-mnist", images);
  require_installed("fashion-mnist", labels);
  const std::string hint =
      fmt::format("reinstall Debian's dataset-fashion-mnist, delete {} and run scripts/setup.sh again", dir);
  return with_setup_hint(hint, [&] {
    Dataset r = read_idx(images);
    ONSAGER_CHECK(static_cast<std::size_t>(r.x.rows()) == rows && r.height == 28 && r.width == 28,
                  "{}: holds {} images of {} x {}, expected {} of 28 x 28", images, r.x.rows(), r.height, r.width, rows);
    ONSAGER_CHECK(r.labels.size() == rows, "{}: no labels were read beside the images", labels);
    require_labels(r, labels, 10);
    return r;
  });
}

Dataset load_fashion(const std::string& data_dir, Split split) {
  const std::string dir = join(data_dir, "fashion-mnist");
  Dataset d;
  if (split == Split::test) {
    d = load_fashion_file(data_dir, "t10k", fashion_test_rows);
  } else {
    d = load_fashion_file(data_dir, "train", fashion_train_rows);
    if (split == Split::train || split == Split::validation) d = take_rows(d, split_rows("fashion-mnist", split));
    if (split == Split::all) {
      const Dataset t = load_fashion_file(data_dir, "t10k", fashion_test_rows);
      MatrixF x(d.x.rows() + t.x.rows(), d.x.cols());
      x << d.x, t.x;
      d.x = std::move(x);
      d.labels.insert(d.labels.end(), t.labels.begin(), t.labels.end());
      d.raw_min = std::min(d.raw_min, t.raw_min);
      d.raw_max = std::max(d.raw_max, t.raw_max);
      d.source = dir;
    }
  }
  d.name = "fashion-mnist";
  return d;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Dataset load_path(const std::string& path, Split split) {
  std::error_code ec;
  ONSAGER_CHECK(fs::exists(path, ec), "'{}' is neither a data set ({}) nor an existing file or directory", path,
                fmt::join(dataset_names(), ", "));
  ONSAGER_CHECK(split == Split::all || split == Split::train,
                "load_dataset: split {} needs a named data set ({}); a file is read whole, so use split all", to_string(split),
                fmt::join(dataset_names(), ", "));
  Dataset d;
  if (fs::is_directory(path, ec)) {
    ONSAGER_CHECK(path_exists(join(path, "0.json")),
                  "{}: a data directory must hold the mnist JSON files 0.json .. 9.json; for other formats pass a file",
                  path);
    d = read_mnist_json_dir(path);
  } else {
    std::string lower = fs::path(path).filename().string();
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ends_with(lower, ".gz")) lower.resize(lower.size() - 3);
    if (ends_with(lower, "-ubyte") || ends_with(lower, ".idx") || ends_with(lower, ".idx3") ||
        lower.find(".idx3-ubyte") != std::string::npos)
      d = read_idx(path);
    else if (ends_with(lower, ".csv"))
      d = read_csv(path, false);
    else if (ends_with(lower, ".npy"))
      d = read_npy(path);
    else
      ONSAGER_FAIL("{}: unknown data format; onsager reads IDX (*-ubyte, *.idx), CSV (*.csv), NumPy (*.npy), "
                   "each optionally gzipped, and directories of mnist JSON files",
                   path);
  }
  d.name = path;
  d.source = path;
  return d;
}

}  // namespace

Split parse_split(std::string_view s) {
  if (s == "train") return Split::train;
  if (s == "validation" || s == "valid") return Split::validation;
  if (s == "test") return Split::test;
  if (s == "trainval") return Split::trainval;
  if (s == "all") return Split::all;
  ONSAGER_FAIL("parse_split: unknown split '{}'; use train, validation, test, trainval or all", s);
}

std::string_view to_string(Split s) {
  switch (s) {
    case Split::train: return "train";
    case Split::validation: return "validation";
    case Split::test: return "test";
    case Split::trainval: return "trainval";
    case Split::all: return "all";
  }
  return "?";
}

std::string default_data_dir() {
  if (const char* env = std::getenv("ONSAGER_DATA"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  if (fs::is_directory("data", ec)) return "data";
  // Next to the running program: build/onsager finds the source tree's data/ (scripts/setup.sh puts it
  // there), an installed PREFIX/bin/onsager finds PREFIX/share/onsager/data. No path is baked in at build time.
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& candidate : {exe.parent_path().parent_path() / "data",
                                      exe.parent_path().parent_path() / "share" / "onsager" / "data"})
      if (fs::is_directory(candidate, ec)) return candidate.string();
  }
  return "data";
}

std::vector<std::string> dataset_names() { return {"digits", "mnist", "fashion-mnist"}; }

bool is_dataset_name(std::string_view s) { return s == "digits" || s == "mnist" || s == "fashion-mnist"; }

std::vector<std::size_t> split_rows(std::string_view name, Split split) {
  if (name == "digits") return permuted_split(digits_rows, digits_test, digits_validation, split);
  if (name == "mnist") return permuted_split(mnist_rows, mnist_test, mnist_validation, split);
  if (name == "fashion-mnist") {
    const std::size_t train_end = fashion_train_rows - fashion_validation;
    switch (split) {
      case Split::train: return iota_rows(0, train_end);
      case Split::validation: return iota_rows(train_end, fashion_train_rows);
      case Split::test: return iota_rows(fashion_train_rows, fashion_train_rows + fashion_test_rows);
      case Split::trainval: return iota_rows(0, fashion_train_rows);
      case Split::all: return iota_rows(0, fashion_train_rows + fashion_test_rows);
    }
  }
  ONSAGER_FAIL("unknown data set '{}'; the named data sets are {}", name, fmt::join(dataset_names(), ", "));
}

bool splits_overlap(std::string_view name, Split a, Split b) {
  if (!is_dataset_name(name)) return false;
  if (a == b) return true;
  std::vector<std::size_t> ra = split_rows(name, a), rb = split_rows(name, b);
  std::sort(ra.begin(), ra.end());
  std::sort(rb.begin(), rb.end());
  std::vector<std::size_t> common;
  std::set_intersection(ra.begin(), ra.end(), rb.begin(), rb.end(), std::back_inserter(common));
  return !common.empty();
}

Dataset load_dataset(const std::string& name_or_path, Split split, const std::string& data_dir) {
  if (name_or_path == "digits") return load_digits(data_dir, split);
  if (name_or_path == "mnist") return load_mnist(data_dir, split);
  if (name_or_path == "fashion-mnist") return load_fashion(data_dir, split);
  return load_path(name_or_path, split);
}

}  // namespace onsager
