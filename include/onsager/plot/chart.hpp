#pragma once
// Charts for the lab's figures, drawn by gnuplot (Debian's gnuplot-nox) and written as PNG atomically: lines
// with error bars, a grid of labelled coloured cells (the phase of each layer and setting), and panels of
// layers' spectra against their fitted Marchenko–Pastur densities.

#include <string>
#include <utility>
#include <vector>

#include "onsager/spectral/analyze.hpp"

namespace onsager {

/// One line: points (x, y) with optional error bars (yerr empty, or one per point).
struct ChartSeries {
  std::string title;
  std::vector<double> x, y, yerr;
};

struct ChartOptions {
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
  int width = 900, height = 540;
};

/// Lines (with error bars where given) on one set of axes; non-finite points are left out. Throws
/// onsager::Error when gnuplot is missing or fails, or a series' sizes disagree.
void write_line_chart(const std::string& png_path, const ChartOptions& options, const std::vector<ChartSeries>& series);

/// Several line charts as panels of one picture (`columns` a row), each panel's size its options' width x height.
void write_line_charts(const std::string& png_path, const std::string& title,
                       const std::vector<std::pair<ChartOptions, std::vector<ChartSeries>>>& panels, int columns = 3);

/// A grid of cells (rows x columns), each coloured by category (index into `categories`, -1: blank) and labelled
/// with its text; the key lists the categories. Throws as write_line_chart does, or when shapes disagree.
struct CellGrid {
  std::string title, xlabel, ylabel;
  std::vector<std::string> columns, rows;        ///< axis labels
  std::vector<std::vector<int>> category;        ///< rows x columns
  std::vector<std::vector<std::string>> text;    ///< rows x columns (may be empty: no labels)
  std::vector<std::string> categories;
};
void write_cell_grid(const std::string& png_path, const CellGrid& grid);

/// One panel per layer (analysed with keep_evals): its mean-1 ESD against the fitted MP density, titled by
/// `titles`; at most 3 panels a row.
void write_mp_panels(const std::string& png_path, const std::string& title, const std::vector<const LayerResult*>& layers,
                     const std::vector<std::string>& titles);

}  // namespace onsager
