// onsager._onsager: the C++ library as Python sees it (python/onsager/ wraps it in scikit-learn's and
// pandas' shapes; docs/python.md). Every function that computes releases the GIL, polls Ctrl-C through
// core/interrupt.hpp, and turns onsager::Error into ValueError (Interrupted into KeyboardInterrupt). Arrays
// come in as float32 C-order NumPy arrays, read in place (the Python layer converts once where needed).

#include <Python.h>

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <filesystem>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/onsager.hpp"

namespace py = pybind11;

namespace onsager::python {
namespace {

using ConstMatrixRef = Eigen::Ref<const MatrixF>;
using ConstVectorRef = Eigen::Ref<const VectorF>;

// ---- Ctrl-C ---------------------------------------------------------------------------------------------------

// The Python error that PyErr_CheckSignals raised (KeyboardInterrupt, or whatever the user's SIGINT handler
// raised), kept until the library's Interrupted reaches the exception translator. Per thread: only the thread
// that installed the check calls it, and the translator runs on that thread.
thread_local PyObject* t_pending_type = nullptr;
thread_local PyObject* t_pending_value = nullptr;
thread_local PyObject* t_pending_traceback = nullptr;

bool pending() { return t_pending_type != nullptr; }

// Frees a pending error nobody will raise (the GIL held).
void drop_pending() {
  Py_XDECREF(t_pending_type);
  Py_XDECREF(t_pending_value);
  Py_XDECREF(t_pending_traceback);
  t_pending_type = t_pending_value = t_pending_traceback = nullptr;
}

// Moves the pending error into Python's error indicator (the GIL held).
void restore_pending() {
  PyErr_Restore(t_pending_type, t_pending_value, t_pending_traceback);
  t_pending_type = t_pending_value = t_pending_traceback = nullptr;
}

bool python_signal_check() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() == 0) return false;
  PyErr_Fetch(&t_pending_type, &t_pending_value, &t_pending_traceback);
  return true;
}

// One library call made from Python. The interrupt check, BLAS's thread count and onsager's thread setting are
// process-wide, so calls are taken one at a time. The GIL is released before the lock is taken, so that a thread
// waiting for the lock never holds the GIL that the running call's Ctrl-C check needs. While the lock is held:
// Ctrl-C is polled (core/interrupt.hpp) and BLAS is single-threaded (NumPy shares onsager's OpenBLAS:
// SerialBlasScope gives it its thread count back). The arrays the call reads are held by its arguments.
// A signal handler that python_signal_check runs (the lock held) may call onsager again: that call is refused
// instead of waiting for a lock its own thread holds.
std::mutex g_call_mutex;
thread_local bool t_in_call = false;

class Compute {
 public:
  Compute() {
    ONSAGER_CHECK(!t_in_call, "onsager was called from a signal handler while one of its calls was running");
    drop_pending();  // an earlier call's, if one ended in an exception the translator did not see
    uncaught_ = std::uncaught_exceptions();
    release_.emplace();
    lock_ = std::unique_lock(g_call_mutex);
    t_in_call = true;
    blas_.emplace();
    set_interrupt_check(&python_signal_check);
  }
  ~Compute() {
    set_interrupt_check(nullptr);
    blas_.reset();
    t_in_call = false;
    lock_.unlock();
    release_.reset();
    if (pending() && std::uncaught_exceptions() <= uncaught_) {
      // The check fired but the call returned anyway. Every loop that polls throws once it sees a request, so
      // this should not happen; if it does, the error is reported rather than lost or turned into a signal.
      restore_pending();
      PyErr_WriteUnraisable(nullptr);
    }
  }
  Compute(const Compute&) = delete;
  Compute& operator=(const Compute&) = delete;

 private:
  int uncaught_ = 0;
  std::optional<py::gil_scoped_release> release_;
  std::unique_lock<std::mutex> lock_;
  std::optional<SerialBlasScope> blas_;
};

// ---- models ---------------------------------------------------------------------------------------------------

Rbm make_rbm(const ConstMatrixRef& weight, const ConstVectorRef& visible_bias, const ConstVectorRef& hidden_bias) {
  ONSAGER_CHECK(visible_bias.size() == weight.cols() && hidden_bias.size() == weight.rows(),
                "the model's shapes disagree: components_ is {} x {}, intercept_visible_ has {} entries and "
                "intercept_hidden_ {}",
                weight.rows(), weight.cols(), visible_bias.size(), hidden_bias.size());
  Rbm rbm;
  rbm.weight = weight;
  rbm.visible_bias = visible_bias;
  rbm.hidden_bias = hidden_bias;
  return rbm;
}

void check_width(const ConstMatrixRef& x, const Rbm& rbm, const char* what) {
  ONSAGER_CHECK(x.cols() == rbm.num_visible(), "{} has {} features, but the model has {} visible units", what,
                x.cols(), rbm.num_visible());
}

// The training state between calls: fit() makes one per call, partial_fit() one per minibatch.
class Trainer {
 public:
  Trainer(const ConstMatrixRef& weight, const ConstVectorRef& visible_bias, const ConstVectorRef& hidden_bias,
          const ConstMatrixRef& chains, const TrainConfig& config)
      : config_(config) {
    config_.validate();
    state_.rbm = make_rbm(weight, visible_bias, hidden_bias);
    state_.rbm.validate("BernoulliRBM");
    state_.weight_velocity = MatrixF::Zero(weight.rows(), weight.cols());
    state_.visible_velocity = VectorF::Zero(weight.cols());
    state_.hidden_velocity = VectorF::Zero(weight.rows());
    if (config_.method == TrainMethod::pcd) {
      ONSAGER_CHECK(chains.rows() > 0 && chains.cols() == weight.rows(),
                    "h_samples_ is {} x {}; PCD needs one row of {} hidden states per chain", chains.rows(),
                    chains.cols(), weight.rows());
      state_.chains = chains;
    }
  }

  void set_velocities(const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c) {
    ONSAGER_CHECK(w.rows() == state_.rbm.weight.rows() && w.cols() == state_.rbm.weight.cols() &&
                      b.size() == state_.rbm.visible_bias.size() && c.size() == state_.rbm.hidden_bias.size(),
                  "the stored velocities do not match the model's shapes");
    state_.weight_velocity = w;
    state_.visible_velocity = b;
    state_.hidden_velocity = c;
  }

  void set_magnetisations(const ConstMatrixRef& m_v, const ConstMatrixRef& m_h) {
    ONSAGER_CHECK(m_v.rows() == m_h.rows() && m_v.cols() == state_.rbm.num_visible() &&
                      m_h.cols() == state_.rbm.num_hidden(),
                  "the stored TAP magnetisations do not match the model's shapes");
    state_.tap_m_v = m_v;
    state_.tap_m_h = m_h;
  }

  // One pass over `data` in consecutive minibatches of `batch_size` rows (the last one shorter), as
  // scikit-learn's fit does; minibatch i keys its random streams by step + i. Returns the number of minibatches
  // done. Stops after the minibatch that Ctrl-C interrupted, with the state that minibatch left.
  // Rows come as float32 (read in place) or float64 (read in place too, each minibatch converted into a
  // reused float32 buffer, so a float64 X is never copied whole).
  template <typename Matrix>
  long long run(const Eigen::Ref<const Matrix>& data, double lr, double momentum, long long batch_size,
                long long step, int epoch) {
    ONSAGER_CHECK(data.cols() == state_.rbm.num_visible(), "X has {} features, but the model has {} visible units",
                  data.cols(), state_.rbm.num_visible());
    ONSAGER_CHECK(data.rows() > 0, "X has no rows");
    ONSAGER_CHECK(batch_size > 0, "batch_size must be at least 1 (got {})", batch_size);
    Compute compute;
    state_.epochs_done = epoch;
    const long long n = data.rows();
    long long done = 0;
    for (long long lo = 0; lo < n; lo += batch_size, ++done) {
      const long long rows = std::min(batch_size, n - lo);
      const auto lr_f = static_cast<float>(lr), momentum_f = static_cast<float>(momentum);
      const auto key = static_cast<std::uint64_t>(step + done);
      if constexpr (std::is_same_v<typename Matrix::Scalar, float>) {
        train_step(state_, data.middleRows(lo, rows), config_, lr_f, momentum_f, key, ws_);
      } else {
        batch_ = data.middleRows(lo, rows).template cast<float>();
        train_step(state_, batch_, config_, lr_f, momentum_f, key, ws_);
      }
      if (interrupt_requested()) throw Interrupted("BernoulliRBM.fit: interrupted");
    }
    return done;
  }

  bool finite() const {
    return state_.rbm.weight.allFinite() && state_.rbm.visible_bias.allFinite() && state_.rbm.hidden_bias.allFinite();
  }

  const TrainState& state() const { return state_; }
  const TrainConfig& config() const { return config_; }

 private:
  TrainConfig config_;
  TrainState state_;
  TrainWorkspace ws_;
  MatrixF batch_;  // a float64 minibatch, converted
};

// ---- tensors from memory --------------------------------------------------------------------------------------

// Arrays that Python owns (NumPy arrays, CPU torch tensors seen through the buffer protocol), read in place:
// the Python caller keeps them alive for the duration of the analysis.
class MemoryTensorSource final : public TensorSource {
 public:
  void add(const std::string& name, const py::buffer& buffer, const std::string& dtype_name_in) {
    py::buffer_info info = buffer.request();
    const auto dtype = dtype_from_name(dtype_name_in);
    ONSAGER_CHECK(dtype.has_value(), "tensor '{}': dtype {} is not one onsager reads", name, dtype_name_in);
    ONSAGER_CHECK(static_cast<std::size_t>(info.itemsize) == dtype_size(*dtype),
                  "tensor '{}': {} bytes per element, but {} has {}", name, info.itemsize, dtype_name_in,
                  dtype_size(*dtype));
    // C order only: the caller makes other layouts contiguous first.
    py::ssize_t expect = info.itemsize;
    for (int d = static_cast<int>(info.ndim) - 1; d >= 0; --d) {
      ONSAGER_CHECK(info.shape[static_cast<std::size_t>(d)] <= 1 || info.strides[static_cast<std::size_t>(d)] == expect,
                    "tensor '{}' is not C-contiguous", name);
      expect *= info.shape[static_cast<std::size_t>(d)];
    }
    TensorEntry e;
    e.name = name;
    for (auto s : info.shape) e.shape.push_back(static_cast<std::int64_t>(s));
    e.dtype = std::string(dtype_name(*dtype));
    e.floating = is_floating(*dtype);
    e.index = entries_.size();
    entries_.push_back(std::move(e));
    data_.push_back(info.ptr);
    dtypes_.push_back(*dtype);
    sizes_.push_back(static_cast<std::size_t>(info.size));
    views_.push_back(std::move(info));  // holds the buffer export, so the memory stays put until the analysis ends
  }

  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry& t) const override {
    ONSAGER_CHECK(t.index < entries_.size(), "tensor index {} out of range", t.index);
    std::vector<double> out(sizes_[t.index]);
    convert_elements(dtypes_[t.index], data_[t.index], out.size(), out.data());
    return out;
  }
  std::string format() const override { return "memory"; }

 private:
  std::vector<TensorEntry> entries_;
  std::vector<const void*> data_;
  std::vector<DType> dtypes_;
  std::vector<std::size_t> sizes_;
  std::vector<py::buffer_info> views_;
};

LayerSelection selection_from(const py::dict& o) {
  LayerSelection sel;
  if (o.contains("layers") && !o["layers"].is_none()) sel.regex = o["layers"].cast<std::string>();
  if (o.contains("min_evals")) sel.min_evals = o["min_evals"].cast<std::size_t>();
  if (o.contains("per_slice")) sel.per_slice = o["per_slice"].cast<bool>();
  if (o.contains("conv_layout")) sel.conv_layout = parse_conv_layout(o["conv_layout"].cast<std::string>());
  return sel;
}

AnalyzeOptions analyze_options_from(const py::dict& o) {
  AnalyzeOptions a;
  a.selection = selection_from(o);
  if (o.contains("esd")) a.esd_method = esd_method_from_string(o["esd"].cast<std::string>());
  if (o.contains("precision")) a.precision = esd_precision_from_string(o["precision"].cast<std::string>());
  if (o.contains("min_tail")) a.powerlaw.min_tail = o["min_tail"].cast<std::size_t>();
  if (o.contains("xmax") && !o["xmax"].is_none()) a.powerlaw.xmax = o["xmax"].cast<double>();
  if (o.contains("fix_fingers")) a.powerlaw.clip_xmax = o["fix_fingers"].cast<bool>();
  if (o.contains("randomize")) a.randomize = o["randomize"].cast<bool>();
  if (o.contains("seed")) a.seed = o["seed"].cast<std::uint64_t>();
  if (o.contains("ww_compat")) a.ww_compat = o["ww_compat"].cast<bool>();
  if (o.contains("plots") && !o["plots"].is_none()) a.keep_evals = true;
  a.validate();
  return a;
}

std::string run_analyze(const TensorSource& source, const std::string& name, const py::dict& options) {
  const AnalyzeOptions o = analyze_options_from(options);
  std::string plots;
  if (options.contains("plots") && !options["plots"].is_none()) {
    plots = options["plots"].cast<std::string>();
    std::error_code ec;
    ONSAGER_CHECK(std::filesystem::is_directory(plots, ec), "plots={}: no such directory (create it first)", plots);
    ONSAGER_CHECK(gnuplot_available(), "plots= needs gnuplot (apt-get install gnuplot-nox)");
  }
  const bool progress = options.contains("progress") && options["progress"].cast<bool>();
  nlohmann::json j;
  {
    Compute compute;
    Progress bar("analyze", plan_layers(source.tensors(), o.selection).layers.size(), progress);
    const AnalyzeReport report =
        analyze(source, name, o, [&](std::size_t, std::size_t, const LayerResult*) { bar.advance(); });
    bar.finish();
    if (!plots.empty())
      for (const auto& l : report.layers)
        write_esd_plot(l, (std::filesystem::path(plots) / plot_file_name(l.spec.name)).string());
    j = to_json(report, true);
    if (o.keep_evals) {
      nlohmann::json evals = nlohmann::json::array();
      for (const auto& l : report.layers) evals.push_back(l.evals);
      j["evals"] = std::move(evals);
    }
  }
  return j.dump();
}

std::string run_inspect(const TensorSource& source, const py::dict& options) {
  const LayerSelection sel = selection_from(options);
  Compute compute;
  return to_json(inspect_tensors(source, sel)).dump();
}

// p(h = 1 | x) (hidden) or p(v = 1 | x) of each row of x, for a model given by its weights and the one bias
// the direction needs.
MatrixF conditional(const ConstMatrixRef& w, const ConstVectorRef& bias, const ConstMatrixRef& x, bool hidden) {
  const Eigen::Index out_units = hidden ? w.rows() : w.cols(), in_units = hidden ? w.cols() : w.rows();
  ONSAGER_CHECK(bias.size() == out_units, "{} has {} entries, but components_ is {} x {}",
                hidden ? "intercept_hidden_" : "intercept_visible_", bias.size(), w.rows(), w.cols());
  ONSAGER_CHECK(x.cols() == in_units, "the input has {} columns, but the model has {} {} units", x.cols(), in_units,
                hidden ? "visible" : "hidden");
  MatrixF out(x.rows(), out_units);
  Compute compute;
  Rbm rbm;
  rbm.weight = w;
  (hidden ? rbm.hidden_bias : rbm.visible_bias) = bias;
  (hidden ? rbm.visible_bias : rbm.hidden_bias) = VectorF::Zero(in_units);
  if (hidden) rbm.hidden_probs(x, out);
  else rbm.visible_probs(x, out);
  return out;
}

std::unique_ptr<TensorSource> open_source(const std::string& path) {
  Compute compute;
  return open_tensor_source(path);
}

py::dict ais_dict(const AisResult& r) {
  py::dict d;
  d["log_z"] = r.log_z;
  d["log_z_lo"] = r.log_z_lo;
  d["log_z_hi"] = r.log_z_hi;
  d["log_z_base"] = r.log_z_base;
  d["ess"] = r.ess;
  d["runs"] = r.runs;
  d["temperatures"] = r.temperatures;
  d["log_weights"] = r.log_weights;
  d["layer"] = std::string(to_string(r.layer));
  d["base"] = std::string(to_string(r.base));
  d["exact_states"] = r.exact_states;
  d["exact_states_used"] = r.exact_states_used;
  d["runs_in_exact_states"] = r.runs_in_exact_states;
  d["seconds"] = r.seconds;
  return d;
}

// The annealed layer and base model that AisOptions and BarOptions share.
template <class Options>
void set_base_options(Options& o, const std::string& layer, const std::string& base, const ConstVectorRef& hidden) {
  o.layer = parse_ais_layer(layer);
  o.base = parse_ais_base(base);
  o.hidden_marginals = hidden;
}

py::dict bar_dict(const BarResult& r) {
  py::dict d;
  d["log_z"] = r.log_z;
  d["log_z_err"] = r.log_z_err;
  d["log_z_base"] = r.log_z_base;
  d["ladders"] = r.ladders;
  d["temperatures"] = r.temperatures;
  d["sweeps"] = r.sweeps;
  d["burn_in"] = r.burn_in;
  d["layer"] = std::string(to_string(r.layer));
  d["base"] = std::string(to_string(r.base));
  d["swap_rate_min"] = r.swap_rate_min;
  d["swap_rate_mean"] = r.swap_rate_mean;
  d["jackknife_log_z"] = r.ladder_log_z;
  d["seconds"] = r.seconds;
  return d;
}

}  // namespace
}  // namespace onsager::python

PYBIND11_MODULE(_onsager, m) {
  using namespace onsager;
  using namespace onsager::python;
  m.doc() = "onsager's C++ library (the onsager package wraps it; docs/python.md)";

  static py::exception<Error> error_type(m, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Interrupted& e) {
      if (pending()) restore_pending();
      else PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const Error& e) {
      // A Ctrl-C the call saw wins over an error it met while stopping.
      if (pending()) restore_pending();
      else error_type(e.what());
    } catch (...) {
      drop_pending();
      throw;  // pybind11's own translators take it from here
    }
  });

  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("num_threads", &num_threads);
  m.def("hardware_threads", &hardware_threads);
  m.def("blas_info", &blas_info);

  py::class_<TrainConfig>(m, "TrainConfig")
      .def(py::init<>())
      .def_property(
          "method", [](const TrainConfig& c) { return std::string(to_string(c.method)); },
          [](TrainConfig& c, const std::string& s) { c.method = parse_train_method(s); })
      .def_readwrite("hidden", &TrainConfig::hidden)
      .def_readwrite("k", &TrainConfig::k)
      .def_readwrite("epochs", &TrainConfig::epochs)
      .def_readwrite("batch_size", &TrainConfig::batch_size)
      .def_readwrite("lr", &TrainConfig::lr)
      .def_readwrite("momentum", &TrainConfig::momentum)
      .def_readwrite("l1", &TrainConfig::l1)
      .def_readwrite("l2", &TrainConfig::l2)
      .def_readwrite("max_norm", &TrainConfig::max_norm)
      .def_readwrite("chains", &TrainConfig::chains)
      .def_readwrite("init_std", &TrainConfig::init_std)
      .def_readwrite("seed", &TrainConfig::seed)
      .def_readwrite("tap_iters", &TrainConfig::tap_iters)
      .def_readwrite("tap_damping", &TrainConfig::tap_damping)
      .def_readwrite("tap_tol", &TrainConfig::tap_tol)
      .def_readwrite("tap_persist_from", &TrainConfig::tap_persist_from)
      .def_property(
          "tap_reseed", [](const TrainConfig& c) { return std::string(to_string(c.tap_reseed)); },
          [](TrainConfig& c, const std::string& s) { c.tap_reseed = parse_tap_reseed(s); })
      .def_readwrite("tap_restart_fraction", &TrainConfig::tap_restart_fraction)
      .def("validate", &TrainConfig::validate)
      .def("to_json", [](const TrainConfig& c) { return to_json(c).dump(); });

  py::class_<Trainer>(m, "Trainer")
      .def(py::init<const ConstMatrixRef&, const ConstVectorRef&, const ConstVectorRef&, const ConstMatrixRef&,
                    const TrainConfig&>(),
           py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("chains"), py::arg("config"))
      .def("set_velocities", &Trainer::set_velocities)
      .def("set_magnetisations", &Trainer::set_magnetisations)
      .def("run", &Trainer::run<MatrixF>, py::arg("data").noconvert(), py::arg("lr"), py::arg("momentum"),
           py::arg("batch_size"), py::arg("step"), py::arg("epoch"))
      .def("run", &Trainer::run<MatrixD>, py::arg("data").noconvert(), py::arg("lr"), py::arg("momentum"),
           py::arg("batch_size"), py::arg("step"), py::arg("epoch"))
      .def("finite", &Trainer::finite)
      .def_property_readonly("weight", [](const Trainer& t) { return t.state().rbm.weight; })
      .def_property_readonly("visible_bias", [](const Trainer& t) { return t.state().rbm.visible_bias; })
      .def_property_readonly("hidden_bias", [](const Trainer& t) { return t.state().rbm.hidden_bias; })
      .def_property_readonly("chains", [](const Trainer& t) { return t.state().chains; })
      .def_property_readonly("weight_velocity", [](const Trainer& t) { return t.state().weight_velocity; })
      .def_property_readonly("visible_velocity", [](const Trainer& t) { return t.state().visible_velocity; })
      .def_property_readonly("hidden_velocity", [](const Trainer& t) { return t.state().hidden_velocity; })
      .def_property_readonly("tap_m_v", [](const Trainer& t) { return t.state().tap_m_v; })
      .def_property_readonly("tap_m_h", [](const Trainer& t) { return t.state().tap_m_h; });

  m.def(
      "hidden_probs",
      [](const ConstMatrixRef& w, const ConstVectorRef& c, const ConstMatrixRef& x) {
        return conditional(w, c, x, true);
      },
      py::arg("weight"), py::arg("hidden_bias"), py::arg("x"));
  m.def(
      "visible_probs",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstMatrixRef& h) {
        return conditional(w, b, h, false);
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("h"));
  m.def(
      "free_energy",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, const ConstMatrixRef& x) {
        const Rbm rbm = make_rbm(w, b, c);
        check_width(x, rbm, "X");
        Compute compute;
        return rbm.free_energy(x);
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("x"));
  m.def(
      "log_partition_exact",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, int max_log2_states) {
        const Rbm rbm = make_rbm(w, b, c);
        ExactOptions o;
        o.max_log2_states = max_log2_states;
        Compute compute;
        return log_partition_exact(rbm, o);
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("max_log2_states") = 30);
  m.def(
      "log_partition_ais",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, const ConstVectorRef& marginals,
         int runs, int betas, std::uint64_t seed, bool check, bool progress, const std::string& layer,
         const std::string& base, const ConstVectorRef& hidden_marg, const ConstMatrixRef& exact_states) {
        const Rbm rbm = make_rbm(w, b, c);
        AisOptions o;
        o.runs = runs;
        o.betas = betas;
        o.seed = seed;
        o.progress = progress;
        set_base_options(o, layer, base, hidden_marg);
        o.exact_states = exact_states;
        AisReport r;
        {
          Compute compute;
          if (check) {
            r = log_partition_ais_checked(rbm, marginals, o);
          } else {
            r.main = log_partition_ais(rbm, marginals, o);
          }
        }
        py::dict d;
        d["main"] = ais_dict(r.main);
        d["check"] = check ? py::object(bar_dict(r.check)) : py::object(py::none());
        d["gap"] = check ? py::object(py::float_(r.gap)) : py::object(py::none());
        d["verdict"] = ais_bar_verdict(r);
        d["warnings"] = ais_warnings(r);
        return d;
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("marginals"), py::arg("runs"),
      py::arg("betas"), py::arg("seed"), py::arg("check"), py::arg("progress"), py::arg("layer") = "automatic",
      py::arg("base") = "data", py::arg("hidden_marginals") = VectorF(), py::arg("exact_states") = MatrixF());
  m.def(
      "log_partition_mode_bound",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, const ConstMatrixRef& data,
         int starts, std::uint64_t seed) {
        const Rbm rbm = make_rbm(w, b, c);
        ModeBound r;
        {
          Compute compute;
          r = log_partition_mode_bound(rbm, data, starts, seed);
        }
        py::dict d;
        d["log_z_lower"] = r.log_z_lower;
        d["layer"] = std::string(to_string(r.layer));
        d["starts"] = r.starts;
        d["local_maxima"] = r.distinct;
        d["neighbour_flips"] = r.neighbour_flips;
        d["states"] = r.states.rows();
        d["state_matrix"] = MatrixF(r.states);
        d["seconds"] = r.seconds;
        return d;
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("data"), py::arg("starts") = 100,
      py::arg("seed") = 0);
  m.def(
      "log_partition_bracket",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, double tolerance,
         std::int64_t max_nodes, bool progress) {
        const Rbm rbm = make_rbm(w, b, c);
        BracketResult r;
        {
          Compute compute;
          r = log_partition_bracket(rbm, {.tolerance = tolerance, .max_nodes = max_nodes, .progress = progress});
        }
        py::dict d;
        d["log_z"] = r.log_z;
        d["log_z_lo"] = r.log_z_lo;
        d["log_z_hi"] = r.log_z_hi;
        d["converged"] = r.converged;
        d["tolerance"] = r.tolerance;
        d["layer"] = std::string(to_string(r.layer));
        d["nodes"] = r.nodes;
        d["open_nodes"] = r.open_nodes;
        d["exact_nodes"] = r.exact_nodes;
        d["seconds"] = r.seconds;
        return d;
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("tolerance") = 0.01,
      py::arg("max_nodes") = 1'000'000, py::arg("progress") = false);
  m.def(
      "log_partition_bar",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, const ConstVectorRef& marginals,
         int ladders, int temperatures, int sweeps, int burn_in, std::uint64_t seed, bool progress,
         const std::string& layer, const std::string& base, const ConstVectorRef& hidden_marg) {
        const Rbm rbm = make_rbm(w, b, c);
        BarOptions o;
        o.ladders = ladders;
        o.temperatures = temperatures;
        o.sweeps = sweeps;
        o.burn_in = burn_in;
        o.seed = seed;
        o.progress = progress;
        set_base_options(o, layer, base, hidden_marg);
        BarResult r;
        {
          Compute compute;
          r = log_partition_bar(rbm, marginals, o);
        }
        return bar_dict(r);
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("marginals"), py::arg("ladders"),
      py::arg("temperatures"), py::arg("sweeps"), py::arg("burn_in"), py::arg("seed"), py::arg("progress"),
      py::arg("layer") = "automatic", py::arg("base") = "data", py::arg("hidden_marginals") = VectorF());
  m.def(
      "log_partition_tap",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, const ConstMatrixRef& starts,
         const std::string& order, int iters, double tol, double damping) {
        const Rbm rbm = make_rbm(w, b, c);
        check_width(starts, rbm, "the starting points");
        TapOptions o;
        o.order = parse_tap_order(order);
        o.max_iters = iters;
        o.tol = tol;
        o.damping = static_cast<float>(damping);
        TapLogZ r;
        {
          Compute compute;
          r = log_partition_tap(rbm, starts, o);
        }
        py::dict d;
        d["log_z"] = r.log_z;
        d["starts"] = r.starts;
        d["converged"] = r.converged;
        d["sweeps"] = r.sweeps;
        d["max_residual"] = r.max_residual;
        return d;
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("starts"), py::arg("order"),
      py::arg("iters"), py::arg("tol"), py::arg("damping"));
  m.def(
      "sample",
      [](const ConstMatrixRef& w, const ConstVectorRef& b, const ConstVectorRef& c, const ConstMatrixRef& start, int n,
         int steps, std::uint64_t seed, bool progress) {
        const Rbm rbm = make_rbm(w, b, c);
        SampleOptions o;
        o.n = n;
        o.steps = steps;
        o.seed = seed;
        o.progress = progress;
        SampleResult r;
        {
          Compute compute;
          r = sample_rbm(rbm, start, o);
        }
        return py::make_tuple(std::move(r.states), std::move(r.probabilities));
      },
      py::arg("weight"), py::arg("visible_bias"), py::arg("hidden_bias"), py::arg("start"), py::arg("n"),
      py::arg("steps"), py::arg("seed"), py::arg("progress"));

  m.def(
      "save_model",
      [](const std::string& path, const Trainer& trainer, int epochs_done, const std::string& data_info) {
        TrainState state = trainer.state();
        state.epochs_done = epochs_done;
        TrainConfig config = trainer.config();
        config.epochs = std::max(config.epochs, epochs_done);
        Compute compute;
        save_rbm_model(path, state, config, nlohmann::json::parse(data_info));
      },
      py::arg("path"), py::arg("trainer"), py::arg("epochs_done"), py::arg("data_info"));
  m.def(
      "load_model",
      [](const std::string& path) {
        RbmModel model;
        {
          Compute compute;
          model = load_rbm_model(path);
        }
        // The Python RBM has Bernoulli visible units; a Gaussian model is for the command line.
        model.state.rbm.require_bernoulli(("load_model: " + path).c_str());
        py::dict d;
        const TrainState& s = model.state;
        d["weight"] = s.rbm.weight;
        d["visible_bias"] = s.rbm.visible_bias;
        d["hidden_bias"] = s.rbm.hidden_bias;
        d["chains"] = s.chains;
        d["has_train_state"] = model.has_train_state;
        if (model.has_train_state) {
          d["weight_velocity"] = s.weight_velocity;
          d["visible_velocity"] = s.visible_velocity;
          d["hidden_velocity"] = s.hidden_velocity;
        }
        d["tap_m_v"] = s.tap_m_v;
        d["tap_m_h"] = s.tap_m_h;
        d["epochs_done"] = s.epochs_done;
        d["config"] = model.config ? py::object(py::str(to_json(*model.config).dump())) : py::object(py::none());
        d["data"] = model.data_info.dump();
        nlohmann::json history = nlohmann::json::array();
        for (const auto& e : s.history) history.push_back(to_json(e));
        d["history"] = history.dump();
        return d;
      },
      py::arg("path"));

  py::class_<MemoryTensorSource>(m, "MemoryTensors")
      .def(py::init<>())
      .def("add", &MemoryTensorSource::add, py::arg("name"), py::arg("buffer"), py::arg("dtype"));
  m.def(
      "analyze_memory",
      [](const MemoryTensorSource& source, const std::string& name, const py::dict& options) {
        return run_analyze(source, name, options);
      },
      py::arg("source"), py::arg("name"), py::arg("options"));
  m.def(
      "analyze_path",
      [](const std::string& path, const py::dict& options) {
        const auto source = open_source(path);
        return py::make_tuple(run_analyze(*source, path, options), source->format());
      },
      py::arg("path"), py::arg("options"));
  m.def(
      "inspect_memory",
      [](const MemoryTensorSource& source, const py::dict& options) { return run_inspect(source, options); },
      py::arg("source"), py::arg("options"));
  m.def(
      "inspect_path",
      [](const std::string& path, const py::dict& options) {
        const auto source = open_source(path);
        return py::make_tuple(run_inspect(*source, options), source->format());
      },
      py::arg("path"), py::arg("options"));
}
