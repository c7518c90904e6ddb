#pragma once
// Running gnuplot (Debian's gnuplot-nox) as a child process to write one PNG atomically; shared by every
// picture that gnuplot draws (esd_plot.cpp, chart.cpp).

#include <string>
#include <string_view>

#include "onsager/spectral/analyze.hpp"

namespace onsager::detail {

/// A gnuplot string literal: single quotes, inner quotes doubled.
std::string gnuplot_quoted(std::string_view s);

/// Runs `script` on a width x height pngcairo terminal whose output is a temporary file beside `png_path` (the
/// script sets neither), then renames it to `png_path`. Throws onsager::Error naming `what` when gnuplot is
/// missing or fails; a failed run leaves no file.
void run_gnuplot(const std::string& script, int width, int height, const std::string& png_path, std::string_view what);

/// A gnuplot panel of a layer's mean-1 ESD (log-binned histogram, log axes) with its fitted Marchenko–Pastur
/// density and bulk edge λ₊: data blocks named with `tag` (unique within a script), then the plot; ranges and
/// arrows are reset after it. Throws onsager::Error when the layer kept fewer than two eigenvalues above 1e-5.
std::string mp_panel_script(const LayerResult& layer, std::string_view tag, const std::string& title);

}  // namespace onsager::detail
