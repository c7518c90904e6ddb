#include "confined_path.hpp"

#include <filesystem>

#include "onsager/core/error.hpp"

namespace onsager::detail {
namespace {

namespace fs = std::filesystem;

bool inside(const fs::path& target, const fs::path& dir) {
  const fs::path rel = target.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

std::string confined_path(const std::string& model_path, const std::string& relative, const std::string& what) {
  const fs::path model(model_path);
  const fs::path dir = model.has_parent_path() ? model.parent_path() : fs::path(".");
  const fs::path joined = dir / relative;
  std::error_code ec;
  const fs::path real = fs::canonical(joined, ec);
  ONSAGER_CHECK(!ec, "{}: {} '{}' cannot be opened: {} ({})", model_path, what, relative, joined.string(), ec.message());
  const fs::path real_dir = fs::canonical(dir, ec);
  ONSAGER_CHECK(!ec, "{}: cannot resolve its directory ({})", model_path, ec.message());
  const fs::path real_model = fs::canonical(model, ec);
  const bool ok = inside(real, real_dir) || (!ec && inside(real, real_model.parent_path()));
  ONSAGER_CHECK(ok, "{}: {} '{}' is a link to {}, outside the model's directory", model_path, what, relative,
                real.string());
  return joined.string();
}

}  // namespace onsager::detail
