#include "tools/bench_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

namespace strata::cli {

namespace {

// Layout in SVG user units (pixels).
constexpr double kWidth = 960, kHeight = 860;
constexpr double kLeft = 84, kRight = 250, kTop = 64;  // kRight: room for the legend
// Three panels: tokens/s of the whole run, decode tokens/s, stall fraction.
constexpr double kRatePanelH = 230, kGap = 62, kStallPanelH = 140;
constexpr double kPlotW = kWidth - kLeft - kRight;
// Colour says the tier (blues: RAM, reds/oranges: disk), the shade the thread count, the
// dash the prefetch depth. Tableau 10 colours: distinct for common colour-vision deficiencies.
constexpr const char* kRamColors[] = {"#4e79a7", "#76b7b2", "#59a14f", "#9c755f"};
constexpr const char* kDiskColors[] = {"#e15759", "#f28e2b", "#b07aa1", "#edc948"};
constexpr const char* kFullColors[] = {"#555555", "#9c755f", "#bab0ac", "#59a14f"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&')
      o += "&amp;";
    else if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

// A 1-2-5 step giving about `n` intervals over [0, max].
double nice_step(double max, int n) {
  if (!(max > 0)) return 1;
  const double raw = max / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

std::string tick_label(double v, double step) {
  int decimals = 0;  // as many as the step needs: 0.25 -> 2, 0.2 -> 1, 5 -> 0
  while (decimals < 6) {
    const double scaled = step * std::pow(10.0, decimals);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * scaled) break;
    ++decimals;
  }
  return fmt::format("{:.{}f}", v, decimals);
}

struct Point {
  double x;
  double tps, tps_std;        // tokens_per_second: the article's figure, prefill included
  double decode, decode_std;  // decode_tokens_per_second: where streaming shows
  double stall;
};

struct Series {
  std::string label;
  std::string color;
  std::string dash;  // stroke-dasharray, "" = solid
  std::vector<Point> points;
};

std::string dash_for_prefetch(int64_t prefetch) {
  switch (prefetch) {
    case 0:
      return "7,5";
    case 1:
      return "";
    case 2:
      return "2,4";
    default:
      return "9,4,2,4";
  }
}

std::vector<Series> build_series(const std::vector<BenchResult>& rows) {
  std::map<int64_t, std::vector<const BenchResult*>> full_by_threads;
  std::map<std::tuple<std::string, int64_t, int64_t, std::string>, std::vector<const BenchResult*>>
      partial;
  bool many_threads = false;
  std::set<std::string> keeps;
  for (const BenchResult& r : rows) {
    many_threads |= r.threads != rows.front().threads;
    if (r.cpu_layers == 0) {
      full_by_threads[r.threads].push_back(&r);
    } else {
      partial[{r.offload_to, r.prefetch, r.threads, r.keep}].push_back(&r);
      keeps.insert(r.keep);
    }
  }
  auto point = [](const BenchResult* r) {
    return Point{static_cast<double>(r->cpu_layers),     r->tokens_per_second,
                 std_of(*r, "tokens_per_second"),        r->decode_tokens_per_second,
                 std_of(*r, "decode_tokens_per_second"), r->stall_fraction};
  };
  std::map<int64_t, size_t> shade;  // threads -> index, in ascending order
  for (const BenchResult& r : rows) shade.emplace(r.threads, 0);
  size_t next_shade = 0;
  for (auto& [threads, index] : shade) index = next_shade++;
  std::vector<Series> out;
  for (const auto& [key, rs] : partial) {
    const auto& [tier, prefetch, threads, keep] = key;
    Series s;
    s.label = fmt::format("{}, prefetch {}", tier, prefetch);
    if (keeps.size() > 1) s.label += ", " + keep;
    if (many_threads) s.label += fmt::format(", {} thr", threads);
    const size_t keep_index = static_cast<size_t>(std::distance(keeps.begin(), keeps.find(keep)));
    const size_t k = (shade[threads] + keep_index * shade.size()) % std::size(kRamColors);
    s.color = tier == "disk" ? kDiskColors[k] : kRamColors[k];
    s.dash = dash_for_prefetch(prefetch);
    for (const BenchResult* r : full_by_threads[threads]) s.points.push_back(point(r));
    for (const BenchResult* r : rs) s.points.push_back(point(r));
    std::sort(s.points.begin(), s.points.end(),
              [](const Point& a, const Point& b) { return a.x < b.x; });
    out.push_back(std::move(s));
  }
  if (out.empty()) {  // nothing offloaded anywhere: one line per thread count
    for (const auto& [threads, rs] : full_by_threads) {
      Series s;
      s.label = fmt::format("all layers resident, {} thr", threads);
      s.color = kFullColors[shade[threads] % std::size(kFullColors)];
      for (const BenchResult* r : rs) s.points.push_back(point(r));
      out.push_back(std::move(s));
    }
  }
  return out;
}

// One panel: frame, grid, ticks, axis titles, and the series' values picked by `y_of`.
template <typename YOf, typename StdOf>
void panel(std::string& svg, const std::vector<Series>& series, double top, double height,
           double x_max, double x_step, double y_max, double y_step, const std::string& y_title,
           bool x_labels, YOf y_of, StdOf std_of_point) {
  auto px = [&](double x) { return kLeft + (x_max > 0 ? x / x_max : 0) * kPlotW; };
  auto py = [&](double y) { return top + height - (y_max > 0 ? y / y_max : 0) * height; };
  svg +=
      fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="#ffffff" stroke="#333333"/>)"
                  "\n",
                  kLeft, top, kPlotW, height);
  for (double y = 0; y <= y_max * (1 + 1e-9); y += y_step) {
    svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#e3e3e3"/>)"
                       "\n",
                       kLeft, py(y), kLeft + kPlotW, py(y));
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="end" class="tick">{}</text>)"
                       "\n",
                       kLeft - 8, py(y) + 4, tick_label(y, y_step));
  }
  for (double x = 0; x <= x_max * (1 + 1e-9); x += x_step) {
    svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#e3e3e3"/>)"
                       "\n",
                       px(x), top, px(x), top + height);
    if (x_labels) {
      svg +=
          fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" class="tick">{}</text>)"
                      "\n",
                      px(x), top + height + 18, tick_label(x, x_step));
    }
  }
  svg += fmt::format(
      R"~(<text transform="translate({:.1f},{:.1f}) rotate(-90)" text-anchor="middle" class="axis">{}</text>)~"
      "\n",
      kLeft - 56, top + height / 2, esc(y_title));
  for (const Series& s : series) {
    std::string pts;
    for (const Point& p : s.points) pts += fmt::format("{:.1f},{:.1f} ", px(p.x), py(y_of(p)));
    svg += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="2.2"{}/>)"
                       "\n",
                       pts, s.color,
                       s.dash.empty() ? "" : fmt::format(R"( stroke-dasharray="{}")", s.dash));
    for (const Point& p : s.points) {
      const double sd = std_of_point(p);
      if (sd > 0) {
        svg += fmt::format(
            R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="{3}" stroke-width="1.4"/>)"
            "\n",
            px(p.x), py(std::max(0.0, y_of(p) - sd)), py(std::min(y_max, y_of(p) + sd)), s.color);
      }
      svg += fmt::format(
          R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.6" fill="{}" stroke="#ffffff" stroke-width="1"/>)"
          "\n",
          px(p.x), py(y_of(p)), s.color);
    }
  }
}

// An axis from 0: a 1-2-5 step and a top that is a multiple of it, above `max` by 5%.
struct Axis {
  double step, top;
};
Axis axis_for(double max, int n_ticks, double cap = 0) {
  const double m = std::max(max * 1.05, cap > 0 ? cap * 0.05 : 1e-9);
  const double step = nice_step(cap > 0 ? std::min(m, cap) : m, n_ticks);
  double top = std::max(step, std::ceil(m / step) * step);
  if (cap > 0) top = std::min(top, cap);
  return {step, top};
}

}  // namespace

std::string render_plot_svg(const std::vector<BenchResult>& rows, const std::string& title) {
  const std::vector<Series> series = build_series(rows);
  double x_max = 1, tps_max = 0, decode_max = 0, stall_max = 0;
  for (const Series& s : series) {
    for (const Point& p : s.points) {
      x_max = std::max(x_max, p.x);
      tps_max = std::max(tps_max, p.tps + p.tps_std);
      decode_max = std::max(decode_max, p.decode + p.decode_std);
      stall_max = std::max(stall_max, p.stall);
    }
  }
  const double x_step = x_max <= 16 ? 1 : nice_step(x_max, 8);
  const double x_top = std::ceil(x_max / x_step) * x_step;
  const Axis tps = axis_for(tps_max, 5), decode = axis_for(decode_max, 5);
  const Axis stall = axis_for(stall_max, 4, 1.0);

  std::string svg;
  svg += fmt::format(R"(<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<style>.tick {{ font-size: 12px; fill: #333333; }} .axis {{ font-size: 14px; fill: #111111; }} .legend {{ font-size: 13px; fill: #111111; }} .title {{ font-size: 16px; font-weight: bold; fill: #111111; }}</style>
<rect width="{0}" height="{1}" fill="#fafafa"/>
)",
                     kWidth, kHeight);
  svg += fmt::format(R"(<text x="{:.1f}" y="30" text-anchor="middle" class="title">{}</text>)"
                     "\n",
                     kLeft + kPlotW / 2, esc(title));
  double top = kTop;
  panel(
      svg, series, top, kRatePanelH, x_top, x_step, tps.top, tps.step,
      "tokens/s (prefill + decode)", true, [](const Point& p) { return p.tps; },
      [](const Point& p) { return p.tps_std; });
  top += kRatePanelH + kGap;
  panel(
      svg, series, top, kRatePanelH, x_top, x_step, decode.top, decode.step, "decode tokens/s",
      true, [](const Point& p) { return p.decode; }, [](const Point& p) { return p.decode_std; });
  top += kRatePanelH + kGap;
  panel(
      svg, series, top, kStallPanelH, x_top, x_step, stall.top, stall.step, "stall fraction", true,
      [](const Point& p) { return p.stall; }, [](const Point&) { return 0.0; });
  svg += fmt::format(
      R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" class="axis">offloaded layers (cpu_layers: streamed every token)</text>)"
      "\n",
      kLeft + kPlotW / 2, top + kStallPanelH + 44);
  // Legend, right of the panels.
  const double lx = kLeft + kPlotW + 24;
  double ly = kTop + 8;
  std::set<std::string> keeps;
  for (const BenchResult& r : rows) {
    if (r.cpu_layers > 0) keeps.insert(r.keep);
  }
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="axis">offload tier, prefetch{}</text>)"
                     "\n",
                     lx, ly, keeps.size() > 1 ? ", keep" : "");
  ly += 24;
  for (const Series& s : series) {
    svg += fmt::format(
        R"(<g class="legend-entry"><line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="2.2"{}/>)",
        lx, ly - 4, lx + 34, ly - 4, s.color,
        s.dash.empty() ? "" : fmt::format(R"( stroke-dasharray="{}")", s.dash));
    svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.6" fill="{}"/>)", lx + 17, ly - 4,
                       s.color);
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="legend">{}</text></g>)"
                       "\n",
                       lx + 42, ly, esc(s.label));
    ly += 22;
  }
  ly += 8;
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="tick">x = 0: all layers resident</text>)"
                     "\n",
                     lx, ly);
  svg +=
      fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="tick">bars: ± 1 standard deviation</text>)"
                  "\n",
                  lx, ly + 18);
  svg += "</svg>\n";
  return svg;
}

}  // namespace strata::cli
