// The MLP trainer (nn/mlp.hpp): the fused training step, scoring, the double-precision reference gradient, and
// the per-epoch monitors.

#include "onsager/nn/mlp.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/random.hpp"
#include "onsager/spectral/analyze.hpp"

namespace onsager {
namespace {

constexpr std::uint64_t kTagInit = 0x6d6c70'01, kTagShuffle = 0x6d6c70'02, kTagDropout = 0x6d6c70'03,
                        kTagLabels = 0x6d6c70'04, kTagSubset = 0x6d6c70'05;
constexpr Eigen::Index kScoreChunk = 1024;

// f(z) in place.
void activate(Activation a, float* x, Eigen::Index n) {
  switch (a) {
    case Activation::relu:
      for (Eigen::Index i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case Activation::tanh:
      for (Eigen::Index i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      break;
    case Activation::sigmoid:
      for (Eigen::Index i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
      break;
    case Activation::linear:
      break;
  }
}

// f'(z) from a = f(z).
inline float derivative_from_output(Activation act, float a) {
  switch (act) {
    case Activation::relu: return a > 0.0f ? 1.0f : 0.0f;
    case Activation::tanh: return 1.0f - a * a;
    case Activation::sigmoid: return a * (1.0f - a);
    case Activation::linear: return 1.0f;
  }
  return 1.0f;
}

double activate_d(Activation a, double z) {
  switch (a) {
    case Activation::relu: return z > 0 ? z : 0.0;
    case Activation::tanh: return std::tanh(z);
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-z));
    case Activation::linear: return z;
  }
  return z;
}

double derivative_d(Activation a, double z) {
  switch (a) {
    case Activation::relu: return z > 0 ? 1.0 : 0.0;
    case Activation::tanh: { const double t = std::tanh(z); return 1.0 - t * t; }
    case Activation::sigmoid: { const double s = 1.0 / (1.0 + std::exp(-z)); return s * (1.0 - s); }
    case Activation::linear: return 1.0;
  }
  return 1.0;
}

void check_rows(const char* where, const Mlp& model, const ConstMatrixFRef& x, const std::vector<int>* labels) {
  ONSAGER_CHECK(model.num_layers() > 0, "{}: the model has no layers", where);
  ONSAGER_CHECK(x.cols() == model.inputs(), "{}: the data has {} columns, the model {} inputs", where, x.cols(),
                model.inputs());
  if (labels == nullptr) return;
  ONSAGER_CHECK(static_cast<Eigen::Index>(labels->size()) == x.rows(), "{}: {} labels for {} rows", where,
                labels->size(), x.rows());
  for (std::size_t i = 0; i < labels->size(); ++i)
    ONSAGER_CHECK((*labels)[i] >= 0 && (*labels)[i] < model.outputs(),
                  "{}: label {} of row {} is outside 0..{} (the model's {} outputs)", where, (*labels)[i], i,
                  model.outputs() - 1, model.outputs());
}

// Row-wise loss of outputs o (n x K) against labels[offset + r], summed; double arithmetic.
double summed_loss(MlpLoss loss, const MatrixF& o, Eigen::Index n, const std::vector<int>& labels, std::size_t offset) {
  double total = 0;
  const Eigen::Index k = o.cols();
  for (Eigen::Index r = 0; r < n; ++r) {
    const float* row = o.data() + r * k;
    const int y = labels[offset + static_cast<std::size_t>(r)];
    if (loss == MlpLoss::cross_entropy) {
      double mx = row[0];
      for (Eigen::Index j = 1; j < k; ++j) mx = std::max(mx, static_cast<double>(row[j]));
      double s = 0;
      for (Eigen::Index j = 0; j < k; ++j) s += std::exp(row[j] - mx);
      total += mx + std::log(s) - row[y];
    } else {
      double s = 0;
      for (Eigen::Index j = 0; j < k; ++j) {
        const double d = row[j] - (j == y ? 1.0 : 0.0);
        s += d * d;
      }
      total += s / static_cast<double>(k);
    }
  }
  return total;
}

// The buffers of one run's training steps, allocated once: act[0] is the gathered minibatch, act[l + 1] layer
// l's output (after dropout), delta[l] the loss gradient with respect to layer l's pre-activation, mask[l] the
// dropout mask of hidden layer l (0 or 1/(1-p)), grad_* the raw gradients (Adam only).
struct Workspace {
  std::vector<MatrixF> act, delta, mask, grad_w;
  std::vector<VectorF> grad_b;
};

Workspace make_workspace(const Mlp& m, Eigen::Index batch, const MlpConfig& c) {
  Workspace ws;
  const int L = m.num_layers();
  ws.act.emplace_back(batch, m.inputs());
  for (int l = 0; l < L; ++l) {
    ws.act.emplace_back(batch, m.weights[l].rows());
    ws.delta.emplace_back(batch, m.weights[l].rows());
    ws.mask.emplace_back(c.dropout > 0 && l + 1 < L ? MatrixF(batch, m.weights[l].rows()) : MatrixF());
    if (c.optimizer == MlpOptimizer::adam) {
      ws.grad_w.emplace_back(m.weights[l].rows(), m.weights[l].cols());
      ws.grad_b.emplace_back(m.weights[l].rows());
    }
  }
  return ws;
}

// One minibatch step on rows `idx` of x.
void train_step(MlpState& s, const MlpConfig& c, Workspace& ws, const ConstMatrixFRef& x,
                const std::vector<int>& labels, const std::size_t* idx, Eigen::Index b, double lr,
                std::uint64_t dropout_key) {
  Mlp& m = s.model;
  const int L = m.num_layers();
  const Eigen::Index in = m.inputs();
  for (Eigen::Index r = 0; r < b; ++r)
    std::copy_n(x.data() + static_cast<Eigen::Index>(idx[r]) * x.outerStride(), in, ws.act[0].data() + r * in);

  // Forward.
  for (int l = 0; l < L; ++l) {
    auto out = ws.act[l + 1].topRows(b);
    gemm(1.0f, ws.act[l].topRows(b), Trans::no, m.weights[l], Trans::yes, 0.0f, out);
    const Eigen::Index k = out.cols();
    const float* bias = m.biases[l].data();
    for (Eigen::Index r = 0; r < b; ++r) {
      float* row = out.data() + r * k;
      for (Eigen::Index j = 0; j < k; ++j) row[j] += bias[j];
      if (l + 1 < L) activate(m.activation, row, k);
    }
    if (l + 1 < L && c.dropout > 0) {
      const float keep = static_cast<float>(1.0 - c.dropout), scale = 1.0f / keep;
      auto mask = ws.mask[l].topRows(b);
      for (Eigen::Index r = 0; r < b; ++r) {
        const std::uint64_t key = stream_seed(dropout_key, static_cast<std::uint64_t>(l), static_cast<std::uint64_t>(r));
        float* row = out.data() + r * k;
        float* mrow = mask.data() + r * k;
        for (Eigen::Index j = 0; j < k; ++j) {
          mrow[j] = counter_uniform(key, static_cast<std::uint32_t>(j)) < keep ? scale : 0.0f;
          row[j] *= mrow[j];
        }
      }
    }
  }

  // The output layer's delta: softmax - one-hot (cross-entropy), 2 (o - t) / K (MSE), over b rows.
  {
    auto o = ws.act[L].topRows(b);
    auto d = ws.delta[L - 1].topRows(b);
    const Eigen::Index k = o.cols();
    const float inv_b = 1.0f / static_cast<float>(b);
    for (Eigen::Index r = 0; r < b; ++r) {
      const float* orow = o.data() + r * k;
      float* drow = d.data() + r * k;
      const int y = labels[idx[r]];
      if (c.loss == MlpLoss::cross_entropy) {
        float mx = orow[0];
        for (Eigen::Index j = 1; j < k; ++j) mx = std::max(mx, orow[j]);
        float sum = 0;
        for (Eigen::Index j = 0; j < k; ++j) sum += (drow[j] = std::exp(orow[j] - mx));
        const float inv = inv_b / sum;
        for (Eigen::Index j = 0; j < k; ++j) drow[j] *= inv;
        drow[y] -= inv_b;
      } else {
        const float f = 2.0f * inv_b / static_cast<float>(k);
        for (Eigen::Index j = 0; j < k; ++j) drow[j] = f * (orow[j] - (j == y ? 1.0f : 0.0f));
      }
    }
  }

  // Backward, updating each layer once the delta below it is known.
  ++s.steps;
  const float flr = static_cast<float>(lr), mu = static_cast<float>(c.momentum), l2 = static_cast<float>(c.l2);
  for (int l = L - 1; l >= 0; --l) {
    auto d = ws.delta[l].topRows(b);
    if (l > 0) {
      auto dp = ws.delta[l - 1].topRows(b);
      gemm(1.0f, d, Trans::no, m.weights[l], Trans::no, 0.0f, dp);
      const auto a = ws.act[l].topRows(b);
      const Eigen::Index k = dp.cols();
      const bool dropped = c.dropout > 0;
      const float keep = static_cast<float>(1.0 - c.dropout);
      for (Eigen::Index r = 0; r < b; ++r) {
        float* drow = dp.data() + r * k;
        const float* arow = a.data() + r * k;
        if (dropped) {
          const float* mrow = ws.mask[l - 1].data() + r * k;
          for (Eigen::Index j = 0; j < k; ++j)
            drow[j] *= mrow[j] == 0.0f ? 0.0f : mrow[j] * derivative_from_output(m.activation, arow[j] * keep);
        } else {
          for (Eigen::Index j = 0; j < k; ++j) drow[j] *= derivative_from_output(m.activation, arow[j]);
        }
      }
    }
    MatrixF& w = m.weights[l];
    VectorF& bias = m.biases[l];
    const Eigen::Index k = d.cols();
    if (c.optimizer == MlpOptimizer::sgd) {
      // v <- mu v + dW (+ l2 W); W <- W - lr v: the gradient GEMM accumulates straight into the velocity.
      MatrixF& v = s.weight_m[l];
      gemm(1.0f, d, Trans::yes, ws.act[l].topRows(b), Trans::no, mu, v);
      if (l2 != 0.0f) v.array() += l2 * w.array();
      w.array() -= flr * v.array();
      VectorF& vb = s.bias_m[l];
      vb *= mu;
      for (Eigen::Index r = 0; r < b; ++r) vb += Eigen::Map<const VectorF>(d.data() + r * k, k);
      bias -= flr * vb;
    } else {
      MatrixF& g = ws.grad_w[l];
      gemm(1.0f, d, Trans::yes, ws.act[l].topRows(b), Trans::no, 0.0f, g);
      if (l2 != 0.0f) g.array() += l2 * w.array();
      VectorF& gb = ws.grad_b[l];
      gb.setZero();
      for (Eigen::Index r = 0; r < b; ++r) gb += Eigen::Map<const VectorF>(d.data() + r * k, k);
      const double t = static_cast<double>(s.steps);
      const float b1 = static_cast<float>(c.beta1), b2 = static_cast<float>(c.beta2);
      const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(c.beta1, t)));
      const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(c.beta2, t)));
      const float eps = static_cast<float>(c.adam_eps);
      auto adam = [&](auto& p, auto& mm, auto& vv, const auto& gg) {
        mm.array() = b1 * mm.array() + (1.0f - b1) * gg.array();
        vv.array() = b2 * vv.array() + (1.0f - b2) * gg.array().square();
        p.array() -= flr * (mm.array() * c1) / ((vv.array() * c2).sqrt() + eps);
      };
      adam(w, s.weight_m[l], s.weight_v[l], g);
      adam(bias, s.bias_m[l], s.bias_v[l], gb);
    }
  }
}

template <class T>
nlohmann::json num(T x) {
  return std::isfinite(static_cast<double>(x)) ? nlohmann::json(x) : nlohmann::json(nullptr);
}
double num_from(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::numeric_limits<double>::quiet_NaN() : it->get<double>();
}

}  // namespace

std::string_view to_string(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
    case Activation::linear: return "linear";
  }
  return "?";
}

Activation parse_activation(std::string_view s) {
  for (Activation a : {Activation::relu, Activation::tanh, Activation::sigmoid, Activation::linear})
    if (s == to_string(a)) return a;
  ONSAGER_FAIL("parse_activation: activation must be relu, tanh, sigmoid or linear (got '{}')", s);
}

std::string_view to_string(MlpLoss l) { return l == MlpLoss::cross_entropy ? "ce" : "mse"; }

MlpLoss parse_mlp_loss(std::string_view s) {
  if (s == "ce" || s == "cross-entropy" || s == "cross_entropy") return MlpLoss::cross_entropy;
  if (s == "mse") return MlpLoss::mse;
  ONSAGER_FAIL("parse_mlp_loss: loss must be ce (softmax cross-entropy) or mse (got '{}')", s);
}

std::string_view to_string(MlpOptimizer o) { return o == MlpOptimizer::sgd ? "sgd" : "adam"; }

MlpOptimizer parse_mlp_optimizer(std::string_view s) {
  if (s == "sgd") return MlpOptimizer::sgd;
  if (s == "adam") return MlpOptimizer::adam;
  ONSAGER_FAIL("parse_mlp_optimizer: optimizer must be sgd or adam (got '{}')", s);
}

std::string_view to_string(MlpOutcome o) {
  switch (o) {
    case MlpOutcome::finished: return "finished";
    case MlpOutcome::early_stopped: return "early-stopped";
    case MlpOutcome::fitted: return "fitted";
    case MlpOutcome::stopped: return "stopped";
    case MlpOutcome::diverged: return "diverged";
  }
  return "?";
}

std::vector<int> parse_arch(std::string_view s) {
  std::vector<int> arch;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t end = std::min(s.find_first_of("-,", pos), s.size());
    const std::string_view part = s.substr(pos, end - pos);
    long v = 0;
    bool ok = !part.empty() && part.size() <= 7;
    for (char ch : part) {
      ok = ok && ch >= '0' && ch <= '9';
      v = v * 10 + (ch - '0');
    }
    ONSAGER_CHECK(ok && v >= 1 && v <= 1000000,
                  "parse_arch: arch '{}': width '{}' is not a whole number in 1..1000000 (write e.g. 784-300-100-10)",
                  s, part);
    arch.push_back(static_cast<int>(v));
    pos = end + 1;
  }
  ONSAGER_CHECK(arch.size() >= 2, "parse_arch: arch '{}' needs at least two widths, inputs and outputs (e.g. 784-10)", s);
  return arch;
}

std::string arch_string(const std::vector<int>& arch) { return fmt::format("{}", fmt::join(arch, "-")); }

std::vector<int> Mlp::arch() const {
  std::vector<int> a;
  if (weights.empty()) return a;
  a.push_back(inputs());
  for (const auto& w : weights) a.push_back(static_cast<int>(w.rows()));
  return a;
}

MatrixF Mlp::forward(const ConstMatrixFRef& x) const {
  check_rows("Mlp::forward", *this, x, nullptr);
  MatrixF a = x;
  for (int l = 0; l < num_layers(); ++l) {
    MatrixF z(a.rows(), weights[l].rows());
    gemm(1.0f, a, Trans::no, weights[l], Trans::yes, 0.0f, z);
    z.rowwise() += biases[l].transpose();
    if (l + 1 < num_layers()) activate(activation, z.data(), z.size());
    a = std::move(z);
  }
  return a;
}

std::vector<int> Mlp::predict(const ConstMatrixFRef& x) const {
  const MatrixF o = forward(x);
  std::vector<int> y(static_cast<std::size_t>(o.rows()));
  for (Eigen::Index r = 0; r < o.rows(); ++r) o.row(r).maxCoeff(&y[static_cast<std::size_t>(r)]);
  return y;
}

MlpScore score_mlp(const Mlp& model, MlpLoss loss, const ConstMatrixFRef& x, const std::vector<int>& labels) {
  check_rows("score_mlp", model, x, &labels);
  MlpScore s;
  if (x.rows() == 0) return s;
  double total = 0;
  std::size_t correct = 0;
  for (Eigen::Index lo = 0; lo < x.rows(); lo += kScoreChunk) {
    const Eigen::Index n = std::min(kScoreChunk, x.rows() - lo);
    const MatrixF o = model.forward(x.middleRows(lo, n));
    total += summed_loss(loss, o, n, labels, static_cast<std::size_t>(lo));
    for (Eigen::Index r = 0; r < n; ++r) {
      Eigen::Index arg = 0;
      o.row(r).maxCoeff(&arg);
      correct += arg == labels[static_cast<std::size_t>(lo + r)];
    }
  }
  s.loss = total / static_cast<double>(x.rows());
  s.accuracy = static_cast<double>(correct) / static_cast<double>(x.rows());
  return s;
}

double mlp_loss_gradient(const Mlp& model, MlpLoss loss, const ConstMatrixFRef& x, const std::vector<int>& labels,
                         std::vector<MatrixD>* weight_grad, std::vector<VectorD>* bias_grad) {
  check_rows("mlp_loss_gradient", model, x, &labels);
  ONSAGER_CHECK(x.rows() > 0, "mlp_loss_gradient: no rows");
  const int L = model.num_layers();
  const Eigen::Index n = x.rows();
  // z[l]: pre-activations of layer l; a[l]: its input.
  std::vector<MatrixD> a(static_cast<std::size_t>(L + 1)), z(static_cast<std::size_t>(L));
  a[0] = x.cast<double>();
  for (int l = 0; l < L; ++l) {
    z[l] = a[l] * model.weights[l].cast<double>().transpose();
    z[l].rowwise() += model.biases[l].cast<double>().transpose();
    a[l + 1] = z[l];
    if (l + 1 < L) a[l + 1] = z[l].unaryExpr([&](double v) { return activate_d(model.activation, v); });
  }
  const MatrixD& o = a[L];
  const Eigen::Index k = o.cols();
  MatrixD delta(n, k);
  double total = 0;
  for (Eigen::Index r = 0; r < n; ++r) {
    const int y = labels[static_cast<std::size_t>(r)];
    if (loss == MlpLoss::cross_entropy) {
      const double mx = o.row(r).maxCoeff();
      const double lse = mx + std::log((o.row(r).array() - mx).exp().sum());
      total += lse - o(r, y);
      delta.row(r) = (o.row(r).array() - lse).exp().matrix();
      delta(r, y) -= 1.0;
    } else {
      for (Eigen::Index j = 0; j < k; ++j) {
        const double d = o(r, j) - (j == y ? 1.0 : 0.0);
        total += d * d / static_cast<double>(k);
        delta(r, j) = 2.0 * d / static_cast<double>(k);
      }
    }
  }
  delta /= static_cast<double>(n);
  if (weight_grad != nullptr || bias_grad != nullptr) {
    if (weight_grad) weight_grad->assign(static_cast<std::size_t>(L), MatrixD());
    if (bias_grad) bias_grad->assign(static_cast<std::size_t>(L), VectorD());
    for (int l = L - 1; l >= 0; --l) {
      if (weight_grad) (*weight_grad)[l] = delta.transpose() * a[l];
      if (bias_grad) (*bias_grad)[l] = delta.colwise().sum().transpose();
      if (l > 0) {
        MatrixD prev = delta * model.weights[l].cast<double>();
        prev.array() *= z[l - 1].unaryExpr([&](double v) { return derivative_d(model.activation, v); }).array();
        delta = std::move(prev);
      }
    }
  }
  return total / static_cast<double>(n);
}

void MlpConfig::validate() const {
  constexpr const char* w = "MlpConfig::validate";
  ONSAGER_CHECK(arch.size() >= 2, "{}: config.arch needs at least two widths (got {})", w, arch.size());
  for (int v : arch) ONSAGER_CHECK(v >= 1, "{}: config.arch widths must be >= 1 (got {})", w, arch_string(arch));
  ONSAGER_CHECK(batch_size >= 1, "{}: config.batch_size must be >= 1 (got {})", w, batch_size);
  ONSAGER_CHECK(epochs >= 0, "{}: config.epochs must be >= 0 (got {})", w, epochs);
  ONSAGER_CHECK(std::isfinite(lr) && lr > 0, "{}: config.lr must be > 0 (got {})", w, lr);
  ONSAGER_CHECK(std::isfinite(lr_decay) && lr_decay > 0 && lr_decay <= 1, "{}: config.lr_decay must be in (0, 1] (got {})",
                w, lr_decay);
  ONSAGER_CHECK(momentum >= 0 && momentum < 1, "{}: config.momentum must be in [0, 1) (got {})", w, momentum);
  ONSAGER_CHECK(beta1 >= 0 && beta1 < 1, "{}: config.beta1 must be in [0, 1) (got {})", w, beta1);
  ONSAGER_CHECK(beta2 >= 0 && beta2 < 1, "{}: config.beta2 must be in [0, 1) (got {})", w, beta2);
  ONSAGER_CHECK(adam_eps > 0 && std::isfinite(adam_eps), "{}: config.adam_eps must be > 0 (got {})", w, adam_eps);
  ONSAGER_CHECK(std::isfinite(l2) && l2 >= 0, "{}: config.l2 must be >= 0 (got {})", w, l2);
  ONSAGER_CHECK(dropout >= 0 && dropout < 1, "{}: config.dropout must be in [0, 1) (got {})", w, dropout);
  ONSAGER_CHECK(early_stop >= 0, "{}: config.early_stop must be >= 0 (got {})", w, early_stop);
  ONSAGER_CHECK(std::isfinite(early_stop_min_delta) && early_stop_min_delta >= 0,
                "{}: config.early_stop_min_delta must be >= 0 (got {})", w, early_stop_min_delta);
  ONSAGER_CHECK(stop_accuracy >= 0 && stop_accuracy <= 1, "{}: config.stop_accuracy must be in [0, 1] (got {})", w,
                stop_accuracy);
}

double MlpConfig::lr_at(int epoch) const { return lr * std::pow(lr_decay, epoch); }

nlohmann::json to_json(const MlpConfig& c) {
  return {{"arch", c.arch},           {"activation", to_string(c.activation)},
          {"loss", to_string(c.loss)}, {"optimizer", to_string(c.optimizer)},
          {"batch_size", c.batch_size}, {"epochs", c.epochs},
          {"lr", c.lr},               {"lr_decay", c.lr_decay},
          {"momentum", c.momentum},   {"beta1", c.beta1},
          {"beta2", c.beta2},         {"adam_eps", c.adam_eps},
          {"l2", c.l2},               {"dropout", c.dropout},
          {"early_stop", c.early_stop}, {"early_stop_min_delta", c.early_stop_min_delta},
          {"stop_accuracy", c.stop_accuracy}, {"seed", c.seed},
          {"spectra", c.spectra}};
}

MlpConfig mlp_config_from_json(const nlohmann::json& j) {
  MlpConfig c;
  try {
    c.arch = j.at("arch").get<std::vector<int>>();
    c.activation = parse_activation(j.at("activation").get<std::string>());
    c.loss = parse_mlp_loss(j.at("loss").get<std::string>());
    c.optimizer = parse_mlp_optimizer(j.at("optimizer").get<std::string>());
    c.batch_size = j.at("batch_size").get<int>();
    c.epochs = j.at("epochs").get<int>();
    c.lr = j.at("lr").get<double>();
    c.lr_decay = j.at("lr_decay").get<double>();
    c.momentum = j.at("momentum").get<double>();
    c.beta1 = j.at("beta1").get<double>();
    c.beta2 = j.at("beta2").get<double>();
    c.adam_eps = j.at("adam_eps").get<double>();
    c.l2 = j.at("l2").get<double>();
    c.dropout = j.at("dropout").get<double>();
    c.early_stop = j.at("early_stop").get<int>();
    c.early_stop_min_delta = j.at("early_stop_min_delta").get<double>();
    c.stop_accuracy = j.at("stop_accuracy").get<double>();
    c.seed = j.at("seed").get<std::uint64_t>();
    c.spectra = j.at("spectra").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    ONSAGER_FAIL("mlp_config_from_json: the settings are incomplete or malformed ({})", e.what());
  }
  c.validate();
  return c;
}

LayerSpectrum layer_spectrum(const Mlp& model, int index, LayerResult* layer) {
  ONSAGER_CHECK(index >= 0 && index < model.num_layers(), "layer_spectrum: layer {} is outside 0..{}", index,
                model.num_layers() - 1);
  const MatrixF& w = model.weights[index];
  LayerSpec spec;
  spec.name = fmt::format("layers.{}.weight", index);
  spec.kind = "dense";
  spec.tensor = static_cast<std::size_t>(index);
  spec.shape = {w.rows(), w.cols()};
  spec.rows = static_cast<std::size_t>(w.rows());
  spec.cols = static_cast<std::size_t>(w.cols());
  spec.slices = {0};
  AnalyzeOptions options;
  options.precision = EsdPrecision::f64;
  options.keep_evals = layer != nullptr;
  LayerResult r = analyze_matrices(spec, {std::vector<double>(w.data(), w.data() + w.size())}, options);
  LayerSpectrum s;
  s.name = spec.name;
  if (r.powerlaw.valid) s.alpha = r.powerlaw.alpha;
  s.phase = std::string(to_string(r.phase.phase));
  s.mp_softrank = r.mp.softrank;
  s.num_spikes = r.mp.num_spikes;
  s.stable_rank = r.metrics.stable_rank;
  s.lambda_max = r.metrics.lambda_max;
  s.spectral_norm = std::sqrt(r.metrics.lambda_max);
  if (layer != nullptr) *layer = std::move(r);
  return s;
}

nlohmann::json to_json(const MlpEpochStats& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerSpectrum& l : s.layers)
    layers.push_back({{"name", l.name},           {"alpha", num(l.alpha)},
                      {"phase", l.phase},         {"mp_softrank", num(l.mp_softrank)},
                      {"num_spikes", l.num_spikes}, {"stable_rank", num(l.stable_rank)},
                      {"lambda_max", num(l.lambda_max)}, {"spectral_norm", num(l.spectral_norm)}});
  return {{"epoch", s.epoch},
          {"lr", num(s.lr)},
          {"train_loss", num(s.train_loss)},
          {"train_accuracy", num(s.train_accuracy)},
          {"test_loss", num(s.test_loss)},
          {"test_accuracy", num(s.test_accuracy)},
          {"layers", layers},
          {"seconds", s.seconds},
          {"monitor_seconds", s.monitor_seconds}};
}

MlpEpochStats mlp_epoch_stats_from_json(const nlohmann::json& j) {
  MlpEpochStats s;
  try {
    s.epoch = j.at("epoch").get<int>();
    s.lr = num_from(j, "lr");
    s.train_loss = num_from(j, "train_loss");
    s.train_accuracy = num_from(j, "train_accuracy");
    s.test_loss = num_from(j, "test_loss");
    s.test_accuracy = num_from(j, "test_accuracy");
    for (const auto& l : j.at("layers")) {
      LayerSpectrum ls;
      ls.name = l.at("name").get<std::string>();
      ls.alpha = num_from(l, "alpha");
      ls.phase = l.at("phase").get<std::string>();
      ls.mp_softrank = num_from(l, "mp_softrank");
      ls.num_spikes = l.at("num_spikes").get<std::size_t>();
      ls.stable_rank = num_from(l, "stable_rank");
      ls.lambda_max = num_from(l, "lambda_max");
      ls.spectral_norm = num_from(l, "spectral_norm");
      s.layers.push_back(std::move(ls));
    }
    s.seconds = j.at("seconds").get<double>();
    s.monitor_seconds = j.at("monitor_seconds").get<double>();
  } catch (const nlohmann::json::exception& e) {
    ONSAGER_FAIL("mlp_epoch_stats_from_json: an epoch record is incomplete or malformed ({})", e.what());
  }
  return s;
}

MlpState init_mlp(const MlpConfig& config) {
  config.validate();
  MlpState s;
  s.model.activation = config.activation;
  for (std::size_t l = 0; l + 1 < config.arch.size(); ++l) {
    const int in = config.arch[l], out = config.arch[l + 1];
    const double std = std::sqrt(2.0 / (in + out));
    Rng rng(stream_seed(config.seed, kTagInit, l));
    MatrixF w(out, in);
    for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = static_cast<float>(std * rng.normal());
    s.model.weights.push_back(std::move(w));
    s.model.biases.push_back(VectorF::Zero(out));
    s.weight_m.push_back(MatrixF::Zero(out, in));
    s.bias_m.push_back(VectorF::Zero(out));
    if (config.optimizer == MlpOptimizer::adam) {
      s.weight_v.push_back(MatrixF::Zero(out, in));
      s.bias_v.push_back(VectorF::Zero(out));
    }
  }
  return s;
}

MlpOutcome train_mlp(MlpState& state, const MlpConfig& config, const LabelledRows& train, const LabelledRows* test,
                     const MlpEpochCallback& on_epoch) {
  config.validate();
  Mlp& m = state.model;
  ONSAGER_CHECK(m.arch() == config.arch, "train_mlp: the model's architecture {} differs from config.arch {}",
                arch_string(m.arch()), arch_string(config.arch));
  check_rows("train_mlp", m, train.x, &train.labels);
  ONSAGER_CHECK(train.x.rows() > 0, "train_mlp: the training set is empty");
  ONSAGER_CHECK(train.x.allFinite(), "train_mlp: the training data holds NaN or Inf");
  if (test != nullptr) {
    check_rows("train_mlp (test data)", m, test->x, &test->labels);
    ONSAGER_CHECK(test->x.allFinite(), "train_mlp: the test data holds NaN or Inf");
  }
  const std::size_t L = static_cast<std::size_t>(m.num_layers());
  const bool adam = config.optimizer == MlpOptimizer::adam;
  ONSAGER_CHECK(state.weight_m.size() == L && state.bias_m.size() == L &&
                    (!adam || (state.weight_v.size() == L && state.bias_v.size() == L)),
                "train_mlp: the optimiser state does not match the model ({} layers)", L);
  for (std::size_t l = 0; l < L; ++l)
    ONSAGER_CHECK(state.weight_m[l].rows() == m.weights[l].rows() && state.weight_m[l].cols() == m.weights[l].cols() &&
                      state.bias_m[l].size() == m.biases[l].size() &&
                      (!adam || (state.weight_v[l].rows() == m.weights[l].rows() &&
                                 state.weight_v[l].cols() == m.weights[l].cols() &&
                                 state.bias_v[l].size() == m.biases[l].size())),
                  "train_mlp: the optimiser state of layer {} does not match its shape", l);

  const Eigen::Index n = train.x.rows();
  const Eigen::Index batch = std::min<Eigen::Index>(config.batch_size, n);
  Workspace ws = make_workspace(m, batch, config);
  using clock = std::chrono::steady_clock;
  // A saved run that had already stopped (its checkpoint is written before the stop is decided) stops again here,
  // so that resuming it gives the uninterrupted run's model.
  const auto stop_rule = [&]() -> std::optional<MlpOutcome> {
    if (config.stop_accuracy > 0 && !state.history.empty() && state.history.back().train_accuracy >= config.stop_accuracy)
      return MlpOutcome::fitted;
    if (config.early_stop > 0 && state.epochs_without_improvement >= config.early_stop) return MlpOutcome::early_stopped;
    return std::nullopt;
  };
  if (const auto stop = stop_rule()) return *stop;
  while (state.epochs_done < config.epochs) {
    const int epoch = state.epochs_done;
    const double lr = config.lr_at(epoch);
    const auto t0 = clock::now();
    const MlpState saved = state;  // the last good state, restored if this epoch diverges
    const std::vector<std::size_t> perm =
        random_permutation(static_cast<std::size_t>(n), stream_seed(config.seed, kTagShuffle, static_cast<std::uint64_t>(epoch)));
    std::uint64_t step = 0;
    for (Eigen::Index lo = 0; lo < n; lo += batch, ++step) {
      if ((step & 63) == 0) throw_if_interrupted("train_mlp");
      const Eigen::Index b = std::min(batch, n - lo);
      train_step(state, config, ws, train.x, train.labels, perm.data() + lo, b, lr,
                 stream_seed(config.seed, kTagDropout, static_cast<std::uint64_t>(epoch), step));
    }
    const auto t1 = clock::now();

    MlpEpochStats st;
    st.epoch = epoch + 1;
    st.lr = lr;
    const MlpScore tr = score_mlp(m, config.loss, train.x, train.labels);
    st.train_loss = tr.loss;
    st.train_accuracy = tr.accuracy;
    if (!std::isfinite(tr.loss)) {
      state = saved;
      return MlpOutcome::diverged;
    }
    if (test != nullptr && test->x.rows() > 0) {
      const MlpScore te = score_mlp(m, config.loss, test->x, test->labels);
      st.test_loss = te.loss;
      st.test_accuracy = te.accuracy;
    }
    if (config.spectra)
      for (int l = 0; l < m.num_layers(); ++l) st.layers.push_back(layer_spectrum(m, l));
    st.seconds = std::chrono::duration<double>(t1 - t0).count();
    st.monitor_seconds = std::chrono::duration<double>(clock::now() - t1).count();

    state.epochs_done = epoch + 1;
    // Keras's rule: an improvement is a loss below the best so far by more than min_delta; the best moves only then.
    if (tr.loss < state.best_loss - config.early_stop_min_delta) {
      state.best_loss = tr.loss;
      state.epochs_without_improvement = 0;
    } else {
      ++state.epochs_without_improvement;
    }
    state.history.push_back(st);
    if (on_epoch && !on_epoch(state, st)) return MlpOutcome::stopped;
    if (const auto stop = stop_rule()) return *stop;
  }
  return MlpOutcome::finished;
}

std::vector<int> randomize_labels(const std::vector<int>& labels, double fraction, int classes, std::uint64_t seed) {
  ONSAGER_CHECK(fraction >= 0 && fraction <= 1, "randomize_labels: fraction must be in [0, 1] (got {})", fraction);
  ONSAGER_CHECK(classes >= 1, "randomize_labels: classes must be >= 1 (got {})", classes);
  std::vector<int> out = labels;
  const std::size_t count = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(labels.size())));
  Rng rng(stream_seed(seed, kTagLabels, 1));
  for (std::size_t i : random_subset(labels.size(), count, stream_seed(seed, kTagLabels, 0)))
    out[i] = static_cast<int>(rng.below(static_cast<std::uint64_t>(classes)));
  return out;
}

std::vector<std::size_t> random_subset(std::size_t n, std::size_t count, std::uint64_t seed) {
  std::vector<std::size_t> p = random_permutation(n, stream_seed(seed, kTagSubset));
  p.resize(std::min(count, n));
  std::sort(p.begin(), p.end());
  return p;
}

}  // namespace onsager
