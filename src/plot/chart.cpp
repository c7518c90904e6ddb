#include "onsager/plot/chart.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gnuplot.hpp"
#include "onsager/core/error.hpp"

namespace onsager {
namespace {

using detail::gnuplot_quoted;

// A colour per category, distinguishable and print-safe (Okabe–Ito), then greys.
constexpr const char* kPalette[] = {"#0072B2", "#56B4E9", "#009E73", "#F0E442", "#E69F00",
                                    "#D55E00", "#CC79A7", "#999999", "#555555", "#000000"};

std::string line_panel(const ChartOptions& o, const std::vector<ChartSeries>& series, std::size_t tag) {
  ONSAGER_CHECK(!series.empty(), "plot: chart '{}' has no series", o.title);
  std::string data, plot;
  std::size_t finite_points = 0;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const ChartSeries& c = series[s];
    ONSAGER_CHECK(c.x.size() == c.y.size() && (c.yerr.empty() || c.yerr.size() == c.y.size()),
                  "plot: chart '{}', series '{}': {} x values, {} y values, {} error bars", o.title, c.title, c.x.size(),
                  c.y.size(), c.yerr.size());
    data += fmt::format("$S{}_{} << EOD\n", tag, s);
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      const double e = c.yerr.empty() ? 0.0 : c.yerr[i];
      if (std::isfinite(c.x[i]) && std::isfinite(c.y[i]) && std::isfinite(e)) {
        data += fmt::format("{:.10g} {:.10g} {:.10g}\n", c.x[i], c.y[i], e);
        ++finite_points;
      }
    }
    data += "EOD\n";
    const char* colour = kPalette[s % std::size(kPalette)];
    plot += fmt::format("{}$S{}_{} using 1:2 with linespoints lw 2 pt 7 lc rgb '{}' title {}", s == 0 ? "plot " : ", ", tag,
                        s, colour, gnuplot_quoted(c.title));
    if (!c.yerr.empty()) plot += fmt::format(", $S{}_{} using 1:2:3 with yerrorbars lc rgb '{}' notitle", tag, s, colour);
  }
  std::string script = data;
  script += fmt::format("set title {} noenhanced\nset xlabel {} noenhanced\nset ylabel {} noenhanced\n"
                        "set key outside right\nset grid\n",
                        gnuplot_quoted(o.title), gnuplot_quoted(o.xlabel), gnuplot_quoted(o.ylabel));
  if (finite_points == 0)  // gnuplot refuses a plot with no valid point: say so on an empty panel instead
    return script + "unset logscale xy\nset xrange [0:1]\nset yrange [0:1]\n"
                    "set label 'no finite values' at 0.5,0.5 center\nplot NaN notitle\nunset label\nset autoscale xy\n";
  script += o.logx ? "set logscale x 2\n" : "unset logscale x\n";
  script += o.logy ? "set logscale y\n" : "unset logscale y\n";
  return script + plot + "\n";
}

}  // namespace

void write_line_chart(const std::string& png_path, const ChartOptions& o, const std::vector<ChartSeries>& series) {
  detail::run_gnuplot(line_panel(o, series, 0), o.width, o.height, png_path, "chart '" + o.title + "'");
}

void write_line_charts(const std::string& png_path, const std::string& title,
                       const std::vector<std::pair<ChartOptions, std::vector<ChartSeries>>>& panels, int columns) {
  ONSAGER_CHECK(!panels.empty() && columns >= 1, "plot: '{}' has no panels", title);
  const int n = static_cast<int>(panels.size()), cols = std::min(n, columns), rows = (n + cols - 1) / cols;
  std::string script = fmt::format("set multiplot layout {},{} title {} noenhanced\n", rows, cols, gnuplot_quoted(title));
  for (std::size_t i = 0; i < panels.size(); ++i) script += line_panel(panels[i].first, panels[i].second, i);
  script += "unset multiplot\n";
  detail::run_gnuplot(script, panels[0].first.width * cols, panels[0].first.height * rows, png_path, "'" + title + "'");
}

void write_cell_grid(const std::string& png_path, const CellGrid& g) {
  ONSAGER_CHECK(!g.rows.empty() && !g.columns.empty(), "plot: grid '{}' is empty", g.title);
  ONSAGER_CHECK(g.category.size() == g.rows.size(), "plot: grid '{}' has {} category rows for {} rows", g.title,
                g.category.size(), g.rows.size());
  std::string cells, labels;
  for (std::size_t r = 0; r < g.rows.size(); ++r) {
    ONSAGER_CHECK(g.category[r].size() == g.columns.size(), "plot: grid '{}', row {}: {} cells for {} columns", g.title, r,
                  g.category[r].size(), g.columns.size());
    for (std::size_t c = 0; c < g.columns.size(); ++c) {
      const int k = g.category[r][c];
      if (k < 0) continue;
      ONSAGER_CHECK(static_cast<std::size_t>(k) < g.categories.size(), "plot: grid '{}': category {} of {}", g.title, k,
                    g.categories.size());
      cells += fmt::format("{} {} {}\n", c, r, k);
      if (r < g.text.size() && c < g.text[r].size() && !g.text[r][c].empty())
      {
        std::string t = g.text[r][c];
        std::replace(t.begin(), t.end(), '"', '\'');
        labels += fmt::format("{} {} \"{}\"\n", c, r, t);  // a data file's quoted string
      }
    }
  }
  std::string script = fmt::format("$CELLS << EOD\n{}EOD\n$LABELS << EOD\n{}EOD\n", cells, labels);
  script += fmt::format("set title {} noenhanced\nset xlabel {} noenhanced\nset ylabel {} noenhanced\n",
                        gnuplot_quoted(g.title), gnuplot_quoted(g.xlabel), gnuplot_quoted(g.ylabel));
  script += fmt::format("set xrange [-0.5:{}]\nset yrange [-0.5:{}]\nset key outside right\nunset colorbox\n",
                        static_cast<double>(g.columns.size()) - 0.5, static_cast<double>(g.rows.size()) - 0.5);
  std::string xt, yt;
  for (std::size_t c = 0; c < g.columns.size(); ++c) xt += fmt::format("{}{} {}", c ? ", " : "", gnuplot_quoted(g.columns[c]), c);
  for (std::size_t r = 0; r < g.rows.size(); ++r) yt += fmt::format("{}{} {}", r ? ", " : "", gnuplot_quoted(g.rows[r]), r);
  script += fmt::format("set xtics ({}) noenhanced\nset ytics ({}) noenhanced\n", xt, yt);
  std::string palette;
  for (std::size_t k = 0; k < g.categories.size(); ++k)
    palette += fmt::format("{}{} '{}'", k ? ", " : "", k, kPalette[k % std::size(kPalette)]);
  const double top = static_cast<double>(std::max<std::size_t>(g.categories.size(), 2) - 1);
  script += fmt::format("set palette defined ({})\nset cbrange [0:{}]\n", palette, top);
  if (g.categories.size() == 1) script += fmt::format("set palette defined (0 '{0}', 1 '{0}')\n", kPalette[0]);
  script += "set style fill solid 1.0 border lc rgb 'white'\n";
  script += "plot $CELLS using 1:2:(0.5):(0.5):3 with boxxyerror fc palette notitle";
  for (std::size_t k = 0; k < g.categories.size(); ++k)
    script += fmt::format(", NaN with boxes fs solid lc rgb '{}' title {}", kPalette[k % std::size(kPalette)],
                          gnuplot_quoted(g.categories[k]));
  if (!labels.empty()) script += ", $LABELS using 1:2:3 with labels font ',8' notitle";
  script += "\n";
  detail::run_gnuplot(script, std::max(700, 110 * static_cast<int>(g.columns.size()) + 300),
                      std::max(300, 60 * static_cast<int>(g.rows.size()) + 160), png_path, "grid '" + g.title + "'");
}

void write_mp_panels(const std::string& png_path, const std::string& title, const std::vector<const LayerResult*>& layers,
                     const std::vector<std::string>& titles) {
  ONSAGER_CHECK(!layers.empty() && layers.size() == titles.size(), "plot: '{}': {} layers, {} titles", title,
                layers.size(), titles.size());
  const int n = static_cast<int>(layers.size()), cols = std::min(n, 2 + (n > 4)), rows = (n + cols - 1) / cols;
  std::string script = fmt::format("set multiplot layout {},{} title {} noenhanced\n", rows, cols, gnuplot_quoted(title));
  for (int i = 0; i < n; ++i) script += detail::mp_panel_script(*layers[i], std::to_string(i), titles[i]);
  script += "unset multiplot\n";
  detail::run_gnuplot(script, 520 * cols, 400 * rows, png_path, "'" + title + "'");
}

}  // namespace onsager
