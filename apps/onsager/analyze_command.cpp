// onsager analyze MODEL: the spectral diagnostics of a trained model's layers (docs/analyze.md); onsager inspect
// FILE: the tensors of a model file and which analysis layer each becomes, without computing anything.

#include <array>
#include <cmath>
#include <map>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common.hpp"
#include "mpi.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/plot/esd_plot.hpp"
#include "onsager/spectral/analyze.hpp"
#include "onsager/spectral/inspect.hpp"

namespace onsager::cli {
namespace {

constexpr const char* kModelFileHelp =
    "Model file or directory: safetensors (single, sharded or a Hugging Face directory), .npy, .npz, .onnx, "
    "PyTorch .pt/.pth/.bin (or pytorch_model.bin.index.json), TensorFlow.js model.json or weights manifest, "
    "Keras .h5";

struct AnalyzeArgs {
  std::string model, layers, csv, esd = "gram", precision = "auto", conv_layout = "oihw", plots, resume;
  std::size_t min_evals = 10, min_tail = 2;
  double xmax = 0;
  bool per_slice = false, randomize = false, fix_fingers = false, quiet = false, no_mp = false, ww_compat = false;
  std::uint64_t seed = 0;
  int threads = 0;
  JsonOutput json;
  CLI::Option* xmax_option = nullptr;
};

std::string fmt_num(double v, int prec = 2) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "-"; }

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

// `s` cut to `width` bytes by replacing its middle with "...": the first `head` bytes (at most) are kept and the rest
// of the width is filled from the end; no UTF-8 character is split.
std::string elide_middle(const std::string& s, std::size_t width, std::size_t head) {
  if (s.size() <= width) return s;
  const auto continuation = [&](std::size_t i) { return (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
  const std::size_t keep = width > 3 ? width - 3 : 0;
  head = std::min(head, keep);
  std::size_t tail = s.size() - (keep - head);
  while (head > 0 && continuation(head)) --head;
  while (tail < s.size() && continuation(tail)) ++tail;
  return s.substr(0, head) + "..." + s.substr(tail);
}

// The layer names as the table prints them, at most `width` bytes each where that keeps them apart: a long name
// loses its middle, keeping a third of the width from its start (where model and block names usually differ) and
// the rest from its end (the tensor's own name); names that would still print alike keep their start up to the
// first byte where they differ instead; failing that, the column is widened.
std::vector<std::string> table_names(const std::vector<LayerResult>& layers, std::size_t width) {
  std::size_t longest = 0;
  for (const auto& l : layers) longest = std::max(longest, l.spec.name.size());
  const std::size_t distinct = [&] {
    std::set<std::string> names;
    for (const auto& l : layers) names.insert(l.spec.name);
    return names.size();
  }();
  for (std::size_t w = std::min(width, longest);; ++w) {
    const std::size_t keep = w > 3 ? w - 3 : 0;
    std::vector<std::string> out;
    std::map<std::string, std::vector<std::size_t>> printed;  // printed name -> the layers printing it
    for (std::size_t k = 0; k < layers.size(); ++k) {
      out.push_back(elide_middle(layers[k].spec.name, w, keep / 3));
      printed[out.back()].push_back(k);
    }
    for (const auto& [text, group] : printed) {
      if (group.size() < 2) continue;
      const std::string& first = layers[group[0]].spec.name;
      std::size_t common = first.size();  // the group's common prefix
      for (std::size_t k : group) {
        const std::string& n = layers[k].spec.name;
        std::size_t i = 0;
        while (i < common && i < n.size() && n[i] == first[i]) ++i;
        common = i;
      }
      for (std::size_t k : group) out[k] = elide_middle(layers[k].spec.name, w, common + 1);
    }
    if (w >= longest || std::set<std::string>(out.begin(), out.end()).size() == distinct) return out;
  }
}

void print_table(const AnalyzeReport& r) {
  const std::vector<std::string> names = table_names(r.layers, 60);
  std::size_t wname = 5, wshape = 5;
  for (std::size_t k = 0; k < r.layers.size(); ++k) {
    wname = std::max(wname, names[k].size());
    wshape = std::max(wshape, shape_text(r.layers[k].spec.shape).size());
  }
  fmt::print("{:<{}}  {:<{}}  {:>6}  {:>5}  {:>6}  {:>10}  {:>5}  {:>5}  {:>6}  {:>6}  {}\n", "layer", wname, "shape",
             wshape, "M", "Q", "alpha", "lambda_max", "D", "tail", "spikes", "stable", "phase");
  for (std::size_t k = 0; k < r.layers.size(); ++k) {
    const LayerResult& l = r.layers[k];
    fmt::print("{:<{}}  {:<{}}  {:>6}  {:>5}  {:>6}  {:>10.4g}  {:>5}  {:>5}  {:>6}  {:>6}  {}\n", names[k], wname,
               shape_text(l.spec.shape), wshape, l.M, fmt_num(l.Q), l.powerlaw.valid ? fmt_num(l.powerlaw.alpha) : "-",
               l.metrics.lambda_max, l.powerlaw.valid ? fmt_num(l.powerlaw.D, 3) : "-", l.powerlaw.num_pl_spikes,
               l.mp.num_spikes, fmt_num(l.metrics.stable_rank, 1), to_string(l.phase.phase));
  }
  const auto& s = r.summary;
  fmt::print("\n{} layers, {} with a valid fit: mean alpha {}, alpha_weighted {}, log_spectral_norm {}\n", s.num_layers,
             s.num_valid, fmt_num(s.alpha), fmt_num(s.alpha_weighted), fmt_num(s.log_spectral_norm));
  std::string phases;
  for (const auto& [p, n] : s.phase_counts)
    if (n > 0) phases += fmt::format("{}{} {}", phases.empty() ? "" : ", ", n, to_string(p));
  fmt::print("phases: {}\n", phases);
  if (!r.skipped.empty()) fmt::print("skipped {} tensors (1-D, non-float or too small; see --json)\n", r.skipped.size());
}

// The layer-selection flags shared by analyze and inspect.
LayerSelection selection(const std::string& layers, std::size_t min_evals, bool per_slice,
                         const std::string& conv_layout) {
  LayerSelection sel;
  sel.regex = layers;
  sel.min_evals = min_evals;
  sel.per_slice = per_slice;
  sel.conv_layout = parse_conv_layout(conv_layout);
  return sel;
}

AnalyzeOptions analyze_options(const AnalyzeArgs& a) {
  AnalyzeOptions o;
  o.selection = selection(a.layers, a.min_evals, a.per_slice, a.conv_layout);
  o.esd_method = esd_method_from_string(a.esd);
  o.precision = esd_precision_from_string(a.precision);
  o.powerlaw.min_tail = a.min_tail;
  if (a.xmax_option->count() > 0) o.powerlaw.xmax = a.xmax;
  o.powerlaw.clip_xmax = a.fix_fingers;
  o.randomize = a.randomize;
  o.seed = a.seed;
  o.keep_evals = !a.plots.empty();
  o.ww_compat = a.ww_compat;
  o.validate();  // before the outputs are claimed
  // Validate every output destination before the (possibly long) analysis.
  if (!a.plots.empty()) {
    std::error_code ec;
    ONSAGER_CHECK(!std::filesystem::exists(a.plots, ec) || std::filesystem::is_directory(a.plots, ec),
                  "analyze: --plots {}: is a file; --plots takes a directory, which gets one PNG per layer", a.plots);
    ONSAGER_CHECK(std::filesystem::is_directory(a.plots, ec), "analyze: --plots {}: no such directory (create it first)",
                  a.plots);
    ONSAGER_CHECK(gnuplot_available(), "analyze: --plots needs gnuplot (apt-get install gnuplot-nox)");
  }
  return o;
}

std::vector<OutputLock> claim_outputs(const AnalyzeArgs& a) {
  return guard_outputs({{a.csv, "--csv"}, {json_file(a.json), "--json"}, {a.resume, "--resume"}},
                       {{a.model, "the model"}});
}

// The work of `layers` in all (layer_cost), for a progress bar that follows each layer's share; `cost` gets each
// one's.
double layer_costs(const std::vector<LayerSpec>& layers, std::map<std::string, double>& cost) {
  double total_cost = 0;
  for (const LayerSpec& l : layers) total_cost += cost[l.name] = layer_cost(l);
  return total_cost;
}

// The layer's ESD plot, when --plots asks for them.
void plot_layer(const AnalyzeArgs& a, const LayerResult* l) {
  if (l && !a.plots.empty()) write_esd_plot(*l, (std::filesystem::path(a.plots) / plot_file_name(l->spec.name)).string());
}

// The table, CSV and JSON of a finished analysis; `ranks`: the MPI processes that shared it, when launched by MPI.
void write_outputs(const AnalyzeArgs& a, const AnalyzeReport& report, int ranks) {
  const bool with_mp = !a.no_mp;
  nlohmann::json j = to_json(report, with_mp);
  if (ranks > 0) j["ranks"] = ranks;
  if (!a.csv.empty()) write_file_atomic(a.csv, to_csv(report, with_mp));
  if (!a.json.to_stdout()) print_table(report);
  emit_json(a.json, j);
}

// The threads of an MPI rank without --threads: the ranks of one machine share its cores, and a rank the launcher
// bound to some cores (mpirun binds each of up to two ranks to one core by default) uses only those.
int rank_threads(const MpiSession& mpi) {
  return std::max(1, std::min(mpi.cores_bound(), hardware_threads() / mpi.local_size()));
}

// `body`'s error as text ("" when it succeeds), for a process that must reach the next collective call.
template <class Body>
std::string attempt(Body&& body) {
  try {
    body();
    return {};
  } catch (const std::bad_alloc&) {
    return "out of memory";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// Rank 0's report of a shared run's failure: its own error, else the lowest failed rank's.
[[noreturn]] void fail_shared(const MpiSession& mpi, const std::vector<std::string>& errors) {
  for (std::size_t r = 0; r < errors.size(); ++r)
    if (!errors[r].empty())
      ONSAGER_FAIL("{}{}", r == 0 ? std::string() : fmt::format("rank {} of {}: ", r, mpi.size()), errors[r]);
  ONSAGER_FAIL("analyze: an MPI rank failed");
}

// `mpirun -n R onsager analyze`: each rank analyses the tensors share_layers gives it and sends its layers, as the
// JSON a journal holds, to rank 0, which writes what one process would (plus "ranks"). Every rank reaches each
// collective call whatever fails before it, so a failure on any rank ends all of them with one message, rank 0's.
// The other ranks then exit 0 (the job's status is rank 0's): a launcher aborts the whole job when a rank exits
// non-zero, which could stop rank 0 before its message is out.
void run_analyze_shared(const AnalyzeArgs& a, const MpiSession& mpi) {
  const bool root = mpi.rank() == 0;
  AnalyzeOptions o;
  std::vector<OutputLock> locks;
  std::unique_ptr<TensorSource> source;
  LayerPlan plan;
  std::string error = attempt([&] {
    ONSAGER_CHECK(a.resume.empty(),
                  "analyze: --resume works in one process, not across {} MPI ranks; run it without mpirun, or "
                  "drop --resume",
                  mpi.size());
    set_num_threads(a.threads > 0 ? a.threads : rank_threads(mpi));
    o = analyze_options(a);
    if (root) locks = claim_outputs(a);
    source = open_tensor_source(a.model);
    plan = plan_layers(source->tensors(), o.selection);
  });
  if (mpi.any(!error.empty())) {
    // Some rank could not start: each hands its error (or "") to rank 0, which reports the first.
    const std::vector<std::string> errors = mpi.gather(error);
    if (!root) return;
    fail_shared(mpi, errors);
  }
  std::string record;
  error = attempt([&] {
    std::map<std::string, double> cost;
    const std::vector<std::size_t> owner = share_layers(plan, static_cast<std::size_t>(mpi.size()));
    std::vector<LayerSpec> mine;
    for (std::size_t k = 0; k < plan.layers.size(); ++k)
      if (owner[k] == static_cast<std::size_t>(mpi.rank())) mine.push_back(plan.layers[k]);
    Progress progress(fmt::format("analyze (rank 0 of {})", mpi.size()), mine.size(), root && !a.quiet);
    progress.set_total_work(layer_costs(mine, cost));
    const auto part = analyze_part(*source, a.model, o,
                                   {static_cast<std::size_t>(mpi.rank()), static_cast<std::size_t>(mpi.size())},
                                   [&](std::size_t, std::size_t, const LayerResult* l) {
                                     plot_layer(a, l);
                                     progress.advance(1, l ? cost[l->spec.name] : 0.0, l ? l->spec.name : std::string());
                                   });
    progress.finish();
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& [k, layer] : part)
      layers.push_back(layer ? nlohmann::json{{"index", k}, {"layer", to_json(*layer, true)}}
                             : nlohmann::json{{"index", k}, {"all_zeros", true}});
    record = nlohmann::json{{"layers", layers}}.dump();
  });
  if (!error.empty()) record = nlohmann::json{{"error", error}}.dump();
  std::vector<std::string> records;
  const std::string gather_error = attempt([&] { records = mpi.gather(record); });
  if (!root) return;
  if (!gather_error.empty()) fail_shared(mpi, {gather_error});
  std::vector<std::string> errors;
  for (const std::string& r : records) errors.push_back(nlohmann::json::parse(r).value("error", ""));
  if (std::any_of(errors.begin(), errors.end(), [](const std::string& e) { return !e.empty(); }))
    fail_shared(mpi, errors);
  std::vector<std::optional<LayerResult>> results(plan.layers.size());
  std::vector<bool> delivered(plan.layers.size(), false);
  for (std::size_t r = 0; r < records.size(); ++r) {
    const nlohmann::json sent = nlohmann::json::parse(records[r]);
    for (const auto& entry : sent.at("layers")) {
      const auto k = entry.at("index").get<std::size_t>();
      ONSAGER_CHECK(k < plan.layers.size() && !delivered[k], "analyze: rank {} sent layer {} twice or out of range", r, k);
      delivered[k] = true;
      if (entry.contains("layer")) results[k] = layer_from_json(plan.layers[k], entry.at("layer"));
    }
  }
  for (std::size_t k = 0; k < plan.layers.size(); ++k)
    ONSAGER_CHECK(delivered[k], "analyze: no rank analysed layer {}", plan.layers[k].name);
  write_outputs(a, assemble_report(*source, a.model, o, std::move(results)), mpi.size());
}

void run_analyze(const AnalyzeArgs& a) {
  const MpiSession mpi;
  if (mpi.size() > 1) return run_analyze_shared(a, mpi);
  set_num_threads(a.threads > 0 || !mpi.active() ? a.threads : rank_threads(mpi));
  const AnalyzeOptions o = analyze_options(a);
  const auto locks = claim_outputs(a);
  const auto source = open_tensor_source(a.model);
  std::optional<AnalyzeJournal> journal;
  if (!a.resume.empty()) journal.emplace(a.resume, *source, o);
  std::map<std::string, double> cost;
  const LayerPlan plan = plan_layers(source->tensors(), o.selection);
  Progress progress("analyze", plan.layers.size(), !a.quiet);
  progress.set_total_work(layer_costs(plan.layers, cost));
  if (journal)
    for (const auto& [name, layer] : journal->finished()) progress.skip(1, cost[name]);
  // Plots are drawn as each layer finishes, so a resumed run has those of the layers an earlier run did.
  const AnalyzeReport report = analyze(
      *source, a.model, o,
      [&](std::size_t, std::size_t, const LayerResult* l) {
        plot_layer(a, l);
        progress.advance(1, l ? cost[l->spec.name] : 0.0, l ? l->spec.name : std::string());
      },
      journal ? &*journal : nullptr);
  progress.finish();
  write_outputs(a, report, mpi.active() ? mpi.size() : 0);
}

struct InspectArgs {
  std::string model, layers, conv_layout = "oihw";
  std::size_t min_evals = 10;
  long long ranks = 0;  ///< 0: not asked
  bool per_slice = false;
  JsonOutput json;
  CLI::Option* ranks_option = nullptr;
};

// How `mpirun -n ranks onsager analyze` would share the layers of `plan` (share_layers): each rank's share of the
// work (layer_cost) and of the layers, and the speed-up over one process that the costs predict.
nlohmann::json rank_shares(const LayerPlan& plan, std::size_t ranks) {
  const std::vector<std::size_t> owner = share_layers(plan, ranks);
  std::vector<double> work(ranks, 0.0);
  std::vector<std::size_t> layers(ranks, 0);
  double total = 0;
  for (std::size_t k = 0; k < plan.layers.size(); ++k) {
    const double c = layer_cost(plan.layers[k]);
    work[owner[k]] += c, total += c;
    ++layers[owner[k]];
  }
  const double largest = *std::max_element(work.begin(), work.end());
  std::vector<double> shares;
  for (double w : work) shares.push_back(total > 0 ? w / total : 0.0);
  return {{"count", ranks}, {"shares", shares}, {"layers", layers},
          {"speedup", largest > 0 ? total / largest : 1.0}};
}

void run_inspect(const InspectArgs& a) {
  ONSAGER_CHECK(a.ranks_option->count() == 0 || (a.ranks >= 1 && a.ranks <= 1000000),
                "inspect: --ranks must be between 1 and 1000000 (got {})", a.ranks);
  const auto locks = guard_outputs({{json_file(a.json), "--json"}}, {{a.model, "the file"}});
  const auto source = open_tensor_source(a.model);
  const LayerSelection sel = selection(a.layers, a.min_evals, a.per_slice, a.conv_layout);
  const InspectReport report = inspect_tensors(*source, sel);
  nlohmann::json j = {{"file", a.model}};
  j.update(to_json(report));
  if (a.ranks > 0) {
    const LayerPlan plan = plan_layers(source->tensors(), sel);
    ONSAGER_CHECK(!plan.layers.empty(), "inspect: --ranks {}: {} has no layer to share", a.ranks, a.model);
    j["ranks"] = rank_shares(plan, static_cast<std::size_t>(a.ranks));
  }
  if (!a.json.to_stdout()) {
    std::vector<std::array<std::string, 4>> rows;
    for (const InspectedTensor& it : report.tensors) {
      const TensorEntry& t = it.tensor;
      std::string shape = shape_text(t.shape);
      if (!t.stored_shape.empty()) shape += fmt::format(" (stored {} {})", shape_text(t.stored_shape), t.stored_layout);
      rows.push_back({t.name, t.dtype, shape, it.becomes()});
    }
    fmt::print("file   {} ({}, {} tensors, {} analysis layers)\n", a.model, report.format, report.tensors.size(),
               report.num_layers);
    std::array<std::size_t, 3> w{6, 5, 5};
    for (const auto& r : rows)
      for (std::size_t c = 0; c < 3; ++c) w[c] = std::max(w[c], r[c].size());
    w[0] = std::min<std::size_t>(w[0], 60);
    fmt::print("{:<{}}  {:<{}}  {:<{}}  {}\n", "tensor", w[0], "dtype", w[1], "shape", w[2], "becomes");
    for (const auto& r : rows) fmt::print("{:<{}}  {:<{}}  {:<{}}  {}\n", r[0], w[0], r[1], w[1], r[2], w[2], r[3]);
    if (a.ranks > 0) {
      const auto& r = j["ranks"];
      const auto shares = r["shares"].get<std::vector<double>>();
      const auto top = static_cast<std::size_t>(std::max_element(shares.begin(), shares.end()) - shares.begin());
      fmt::print("\nmpirun -n {} onsager analyze: the largest rank's share is {:.1f}% of the work ({} layers); "
                 "expected speed-up {:.2f}x over one process (from the layers' costs, N*M^2 + M^3 each)\n",
                 a.ranks, 100 * shares[top], r["layers"][top].get<std::size_t>(), r["speedup"].get<double>());
    }
  }
  emit_json(a.json, j);
}

}  // namespace

void register_inspect_command(CLI::App& app) {
  auto a = std::make_shared<InspectArgs>();
  auto* cmd = app.add_subcommand(
      "inspect",
      "List the tensors of a model file (name, dtype, shape) and what 'onsager analyze' will make of each:\n"
      "a dense, embedding or conv layer (with its matrix shape and eigenvalue count) or the reason it is skipped.\n"
      "Nothing is computed and no tensor values are read.\n"
      "Example: onsager inspect model.safetensors --per-slice");
  cmd->add_option("model", a->model, kModelFileHelp)
      ->required()
      ->type_name("FILE");
  cmd->add_option("--layers", a->layers, "Only tensors whose name matches this regular expression become layers");
  cmd->add_option("--min-evals", a->min_evals, "Layers with fewer eigenvalues are skipped")->capture_default_str();
  cmd->add_flag("--per-slice", a->per_slice, "One layer per conv slice instead of pooling them");
  cmd->add_option("--conv-layout", a->conv_layout, "Conv weight layout: oihw (PyTorch) or hwio (Keras)")
      ->capture_default_str();
  a->ranks_option = cmd->add_option("--ranks", a->ranks,
                  "Also show how 'mpirun -n R onsager analyze' would share the layers among R ranks, and the "
                  "speed-up their costs predict")
      ->type_name("R");
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_inspect(*a); });
}

void register_analyze_command(CLI::App& app) {
  auto a = std::make_shared<AnalyzeArgs>();
  auto* cmd = app.add_subcommand(
      "analyze",
      "Spectral diagnostics of a trained model's layers (ESD, power law, MP, phases).\n"
      "Under 'mpirun -n R' (or srun) the R ranks share the layers by cost and rank 0 writes the report\n"
      "('onsager inspect MODEL --ranks R' shows the split; docs/analyze.md, \"Many machines\").");
  cmd->add_option("model", a->model, kModelFileHelp)
      ->required()
      ->type_name("MODEL");
  cmd->add_option("--layers", a->layers, "Analyse only tensors whose name matches this regular expression")
      ->type_name("REGEX");
  cmd->add_option("--min-evals", a->min_evals, "Skip layers with fewer eigenvalues")->capture_default_str();
  cmd->add_flag("--per-slice", a->per_slice, "One ESD per conv slice W[:, :, i, j] instead of pooling them");
  cmd->add_option("--conv-layout", a->conv_layout, "Conv weight layout: oihw (PyTorch) or hwio (Keras)")
      ->capture_default_str();
  a->xmax_option = cmd->add_option("--xmax", a->xmax, "Fit the power law only to eigenvalues up to (the one nearest) VALUE")
      ->type_name("VALUE");
  cmd->add_option("--min-tail", a->min_tail, "Smallest power-law tail (points) a candidate xmin may leave")
      ->capture_default_str();
  cmd->add_flag("--fix-fingers", a->fix_fingers, "clip_xmax finger fix: drop up to 10 outlying top eigenvalues when "
                                                 "that lowers alpha by more than 1");
  cmd->add_flag("--randomize", a->randomize, "Also analyse each layer with its entries shuffled (correlation traps)");
  cmd->add_option("--seed", a->seed, "Seed of --randomize's shuffle")->capture_default_str();
  cmd->add_option("--esd", a->esd, "ESD route: gram (Gram matrix + symmetric eigensolver) or svd (BDCSVD, double)")
      ->capture_default_str();
  cmd->add_option("--precision", a->precision,
                  "Gram route precision: auto (single for weights stored in 32 bits or fewer, each layer redone in "
                  "double where single cannot resolve it), single or double")
      ->capture_default_str();
  cmd->add_flag("--ww-compat", a->ww_compat,
                "WeightWatcher's numbers: its conv2d_norm (Conv2D eigenvalues halved when pooled) and its rank "
                "rule (singular values above N*eps*s_max, rank_loss per slice)");
  cmd->add_flag("--no-mp", a->no_mp, "Leave the Marchenko-Pastur fields out of the JSON/CSV");
  add_json_option(cmd, a->json);
  cmd->add_option("--csv", a->csv, "Write one line per layer to FILE")->type_name("FILE");
  cmd->add_option("--resume", a->resume,
                  "Record each finished layer in FILE; run again with the same FILE to continue an interrupted "
                  "analysis where it stopped")
      ->type_name("FILE.jsonl");
  cmd->add_option("--plots", a->plots, "Write one PNG per layer (ESD, power law, MP density) into DIR (gnuplot)")
      ->type_name("DIR");
  add_threads_option(cmd, a->threads);
  add_quiet_flag(cmd, a->quiet);
  cmd->callback([a] { run_analyze(*a); });
}

}  // namespace onsager::cli
