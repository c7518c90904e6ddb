#pragma once
// One PNG per analysed layer, drawn by gnuplot (Debian's gnuplot-nox, run as a child process): left, the
// ESD on log-log axes (log-binned density) with the fitted power law from xmin to xmax and xmin marked;
// right, the log-binned histogram of the mean-1 ESD on log axes over its whole range (spikes included) with the
// fitted Marchenko–Pastur density and the bulk edge λ₊.

#include <string>

#include "onsager/spectral/analyze.hpp"

namespace onsager {

/// True when a `gnuplot` executable is on PATH.
bool gnuplot_available();

/// Writes the plot of `layer` (analysed with keep_evals) to `png_path` atomically (temporary name, then
/// rename). Throws onsager::Error when gnuplot is missing or fails, or the layer kept no eigenvalues.
void write_esd_plot(const LayerResult& layer, const std::string& png_path);

/// A file name for a layer: its name with every character outside [A-Za-z0-9._-] replaced by '_', plus ".png".
std::string plot_file_name(const std::string& layer_name);

}  // namespace onsager
