#include "onsager/plot/esd_plot.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "onsager/core/error.hpp"
#include "gnuplot.hpp"

namespace onsager {
namespace {

using detail::gnuplot_quoted;
std::string quoted(const std::string& s) { return gnuplot_quoted(s); }

}  // namespace

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

namespace detail {

std::string gnuplot_quoted(std::string_view s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

void run_gnuplot(const std::string& script, int width, int height, const std::string& png_path, std::string_view what) {
  ONSAGER_CHECK(gnuplot_available(), "plot: gnuplot is not installed (apt-get install gnuplot-nox)");
  const std::string tmp = png_path + ".tmp." + std::to_string(::getpid());
  const std::string full = fmt::format("set terminal pngcairo size {},{} font ',10'\nset output {}\n{}\nset output\n",
                                       width, height, gnuplot_quoted(tmp), script);
  // gnuplot's messages go to stderr (stdout may carry --json); a gnuplot that dies mid-script must not kill this
  // process with SIGPIPE, so the write ignores it and the exit status tells.
  std::FILE* p = ::popen("gnuplot 1>&2", "w");
  ONSAGER_CHECK(p != nullptr, "plot: cannot start gnuplot");
  struct sigaction ignore {}, saved {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &saved);
  std::fwrite(full.data(), 1, full.size(), p);
  const int status = ::pclose(p);
  ::sigaction(SIGPIPE, &saved, nullptr);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) || !std::filesystem::exists(tmp)) {
    std::remove(tmp.c_str());
    ONSAGER_FAIL("plot: gnuplot failed on {} (exit status {})", what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
  ONSAGER_CHECK(std::rename(tmp.c_str(), png_path.c_str()) == 0, "plot: cannot write {}", png_path);
}

}  // namespace detail

std::string plot_file_name(const std::string& layer_name) {
  std::string s;
  for (char c : layer_name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return s + ".png";
}

namespace detail {

std::string mp_panel_script(const LayerResult& r, std::string_view tag, const std::string& title) {
  ONSAGER_CHECK(!r.evals.empty(), "plot: layer {} kept no eigenvalues", r.spec.name);
  std::vector<double> pos;
  for (double v : r.evals)
    if (v > 1e-5) pos.push_back(v);
  ONSAGER_CHECK(pos.size() >= 2, "plot: layer {} has fewer than two eigenvalues above 1e-5", r.spec.name);
  const double total = static_cast<double>(pos.size());
  // The mean-1 ESD on log axes, log-binned from its smallest eigenvalue above the cut to its largest (so every
  // spike of a heavy tail is on the picture), against the MP density (σ fitted) on [λ₋, λ₊].
  const double scale = r.mp.scale;
  double x_lo = std::min(pos.front() / scale, r.mp.lambda_plus), x_hi = std::max(pos.back() / scale, r.mp.lambda_plus);
  if (x_hi < 1.1 * x_lo) x_lo /= 1.1, x_hi *= 1.1;  // a (near-)degenerate ESD still gets a range
  x_hi *= 1 + 1e-12;
  const int lbins = std::clamp(static_cast<int>(2 * std::sqrt(total)), 20, 100);
  const double step = std::log10(x_hi / x_lo) / lbins;
  std::string hist, mp;
  double y_lo = std::numeric_limits<double>::infinity();
  for (int b = 0; b < lbins; ++b) {
    const double a = x_lo * std::pow(10.0, step * b), c = x_lo * std::pow(10.0, step * (b + 1));
    const auto n = std::count_if(pos.begin(), pos.end(), [&](double v) { return v / scale >= a && v / scale < c; });
    if (n == 0) continue;  // a log axis cannot show an empty bin
    const double y = static_cast<double>(n) / static_cast<double>(r.evals.size()) / (c - a);
    y_lo = std::min(y_lo, y);
    hist += fmt::format("{:.10g} {:.10g} {:.10g}\n", (a + c) / 2, y, c - a);
  }
  const double mp_lo = std::max(r.mp.lambda_minus, x_lo);
  for (int k = 0; k <= 400; ++k) {
    const double x = mp_lo * std::pow(r.mp.lambda_plus / mp_lo, k / 400.0), y = mp_density(x, r.Q, r.mp.sigma);
    if (y > 0) mp += fmt::format("{:.10g} {:.10g}\n", x, y);
  }
  std::string script = fmt::format("$HIST{0} << EOD\n{1}EOD\n$MP{0} << EOD\n{2}EOD\n", tag, hist, mp);
  script += "set logscale xy\nset format xy '%g'\nset ylabel 'density'\nset key top right\n"
            "set xlabel 'eigenvalue / mean eigenvalue'\n";
  script += fmt::format("set title {} noenhanced\n", quoted(title));
  script += fmt::format("set xrange [{:.10g}:{:.10g}]\nset yrange [{:.10g}:*]\nset arrow from {:.10g}, graph 0 to {:.10g}, graph 1 nohead dt 2 "
                        "lc rgb 'black'\n",
                        x_lo / 1.2, x_hi * 1.2, y_lo / 3, r.mp.lambda_plus, r.mp.lambda_plus);
  script += fmt::format("set style fill solid 0.5\nplot $HIST{} using 1:2:3 with boxes lc rgb '#1f77b4' title 'ESD'", tag);
  if (!mp.empty()) script += fmt::format(", $MP{} with lines lw 2 lc rgb 'orange' title 'Marchenko-Pastur'", tag);
  script += ", NaN with lines dt 2 lc rgb 'black' title 'lambda+'\n";  // the key entry of the bulk edge's line
  script += "unset arrow\nunset label\nset autoscale xy\n";
  return script;
}

}  // namespace detail

void write_esd_plot(const LayerResult& r, const std::string& png_path) {
  ONSAGER_CHECK(!r.evals.empty(), "plot: layer {} kept no eigenvalues", r.spec.name);
  std::vector<double> pos;
  for (double v : r.evals)
    if (v > 1e-5) pos.push_back(v);
  ONSAGER_CHECK(pos.size() >= 2, "plot: layer {} has fewer than two eigenvalues above 1e-5", r.spec.name);
  const double total = static_cast<double>(pos.size());
  // Left panel: log-binned density of λ.
  const int bins = std::clamp(static_cast<int>(std::sqrt(total)), 10, 80);
  const double lo = std::log10(pos.front()), hi = std::log10(pos.back()) + 1e-12;
  std::string loglog;
  for (int b = 0; b < bins; ++b) {
    const double a = std::pow(10.0, lo + (hi - lo) * b / bins), c = std::pow(10.0, lo + (hi - lo) * (b + 1) / bins);
    const auto n = std::count_if(pos.begin(), pos.end(), [&](double v) { return v >= a && (v < c || b == bins - 1); });
    if (n > 0) loglog += fmt::format("{:.10g} {:.10g}\n", std::sqrt(a * c), static_cast<double>(n) / total / (c - a));
  }
  // The fitted power law as a density of the whole ESD: (tail fraction) (α-1)/xmin (x/xmin)^-α on [xmin, xmax].
  std::string pl;
  const auto& f = r.powerlaw;
  if (f.valid) {
    const double frac = static_cast<double>(f.num_pl_spikes) / total;
    for (int k = 0; k <= 50; ++k) {
      const double x = f.xmin * std::pow(f.xmax / f.xmin, k / 50.0);
      pl += fmt::format("{:.10g} {:.10g}\n", x, frac * (f.alpha - 1) / f.xmin * std::pow(x / f.xmin, -f.alpha));
    }
  }
  std::string script = fmt::format(
      "$LOGLOG << EOD\n{}EOD\n$PL << EOD\n{}EOD\n"
      "set multiplot layout 1,2 title {} noenhanced\n"
      "set logscale xy\nset format xy '%g'\nset xlabel 'eigenvalue {{/Symbol l}}'\nset ylabel 'density'\nset key top right\n"
      "set title {}\n",
      loglog, pl,
      quoted(fmt::format("{}  ({} x {}, Q = {:.2f})  phase: {}", r.spec.name, r.N, r.M, r.Q, to_string(r.phase.phase))),
      quoted(f.valid ? fmt::format("ESD and power law: alpha = {:.2f}, D = {:.3f}, tail {} eigenvalues", f.alpha, f.D,
                                   f.num_pl_spikes)
                     : std::string("ESD (no power-law fit)")));
  if (f.valid) {
    script += fmt::format("set arrow from {0:.10g}, graph 0 to {0:.10g}, graph 1 nohead dt 2 lc rgb 'red'\n", f.xmin);
    script += fmt::format("set label 'xmin' at {:.10g}, graph 0.95 offset 0.5,0 tc rgb 'red'\n", f.xmin);
    script += "plot $LOGLOG with points pt 7 ps 0.8 lc rgb '#1f77b4' title 'ESD', "
              "$PL with lines lw 2 lc rgb 'red' title 'power law'\n";
  } else {
    script += "plot $LOGLOG with points pt 7 ps 0.8 lc rgb '#1f77b4' title 'ESD'\n";
  }
  script += "unset arrow\nunset label\n";
  script += detail::mp_panel_script(r, "", fmt::format("MP fit: sigma = {:.3f}, lambda+ = {:.3f}, {} spikes; whole ESD, log axes",
                                                       r.mp.sigma, r.mp.lambda_plus, r.mp.num_spikes));
  script += "unset multiplot\n";
  detail::run_gnuplot(script, 1200, 480, png_path, "layer " + r.spec.name);
}

}  // namespace onsager
