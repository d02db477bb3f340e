// strata bench: every BenchmarkResult field in every configuration, consistent figures, the
// streamed bytes against the model's layer sizes, a well-formed SVG plot, the markdown and
// csv reports, and the probe.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "cli/cli_util.h"

namespace strata {
namespace {

using test::CliOutput;
using Output = test::CliOutput;
const std::string& dir() { return test::scratch_dir(); }

// Runs the CLI with its probe cache in the test's own directory.
Output run(const std::string& args) {
  return test::run_cli(args, "STRATA_CACHE_DIR=" + dir() + "/cache");
}

// A 5-layer model of stories260K's shape, written once.
const std::string& tiny_model() {
  static const std::string path = [] {
    const std::string p = dir() + "/tiny.gguf";
    Output o = run("make-model --shape tiny --dtype f32 --seed 3 --out " + p);
    EXPECT_EQ(o.code, 0) << o.err;
    return p;
  }();
  return path;
}

const char* const kFields[] = {"model_name",
                               "total_layers",
                               "gpu_layers",
                               "cpu_layers",
                               "loading_mode",
                               "load_time_seconds",
                               "tokens_generated",
                               "total_inference_time",
                               "tokens_per_second",
                               "per_layer_load_times",
                               "peak_vram_gb",
                               "device",
                               "offload_to",
                               "prefetch",
                               "keep",
                               "threads",
                               "ttft_seconds",
                               "prefill_tokens_per_second",
                               "decode_tokens_per_second",
                               "peak_rss_gb",
                               "bytes_streamed_per_token",
                               "stream_gbps",
                               "stall_fraction",
                               "overlap_efficiency",
                               "tokens_per_second_std",
                               "load_time_seconds_std",
                               "total_inference_time_std"};

// Minimal XML well-formedness: balanced, properly nested tags, quoted attributes, no raw
// '<' or '&' in text. Returns "" when well-formed, else what is wrong; `root` gets the name
// of the first element.
std::string xml_problem(const std::string& x, std::string* root) {
  std::vector<std::string> stack;
  size_t i = 0;
  bool seen_root = false;
  while (i < x.size()) {
    if (x[i] == '&') {
      size_t semi = x.find(';', i);
      if (semi == std::string::npos || semi - i > 8) return "bare & at " + std::to_string(i);
      i = semi + 1;
      continue;
    }
    if (x[i] != '<') {
      ++i;
      continue;
    }
    if (x.compare(i, 2, "<?") == 0) {
      size_t e = x.find("?>", i);
      if (e == std::string::npos) return "unterminated <?";
      i = e + 2;
      continue;
    }
    size_t e = i + 1;
    char quote = 0;
    for (; e < x.size(); ++e) {
      if (quote) {
        if (x[e] == quote)
          quote = 0;
        else if (x[e] == '<')
          return "< inside an attribute at " + std::to_string(e);
      } else if (x[e] == '"' || x[e] == '\'') {
        quote = x[e];
      } else if (x[e] == '>') {
        break;
      } else if (x[e] == '<') {
        return "< inside a tag at " + std::to_string(e);
      }
    }
    if (e >= x.size()) return "unterminated tag at " + std::to_string(i);
    std::string tag = x.substr(i + 1, e - i - 1);
    if (tag.empty()) return "empty tag";
    if (tag[0] == '/') {
      std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return "mismatched </" + name + ">";
      stack.pop_back();
    } else {
      const bool self_closing = tag.back() == '/';
      std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
      if (!seen_root) {
        *root = name;
        seen_root = true;
      } else if (stack.empty()) {
        return "a second root element <" + name + ">";
      }
      if (!self_closing) stack.push_back(name);
    }
    i = e + 1;
  }
  return stack.empty() ? "" : "unclosed <" + stack.back() + ">";
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Bench, JsonSweepHasEveryFieldAndConsistentFigures) {
  const std::string svg_path = dir() + "/sweep.svg";
  Output o = run("bench -m " + tiny_model() +
                 " --gpu-layers 3,1 --offload-to ram,disk --prefetch 0,1 -t 1 -p 8 -n 6 -r 1 "
                 "-o json --plot " +
                 svg_path);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.err.find("[8/8]"), std::string::npos) << "progress on stderr: " << o.err;
  nlohmann::json j = nlohmann::json::parse(o.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << o.out;
  EXPECT_TRUE(j.contains("command") && j.contains("date") && j.contains("machine"));
  const auto& results = j["results"];
  ASSERT_EQ(results.size(), 8u);

  Output ins = run("inspect --json " + tiny_model());
  ASSERT_EQ(ins.code, 0) << ins.err;
  const auto layer_bytes =
      nlohmann::json::parse(ins.out)["bytes_per_layer"].get<std::vector<double>>();
  ASSERT_EQ(layer_bytes.size(), 5u);

  std::set<std::tuple<int64_t, std::string, int64_t>> seen;
  for (const auto& r : results) {
    for (const char* f : kFields) EXPECT_TRUE(r.contains(f)) << f << " missing in " << r.dump();
    const int64_t gpu = r["gpu_layers"], cpu = r["cpu_layers"];
    EXPECT_EQ(r["total_layers"], 5);
    EXPECT_EQ(gpu + cpu, 5);
    EXPECT_EQ(r["loading_mode"], "partial");
    EXPECT_EQ(r["tokens_generated"], 6);
    EXPECT_EQ(r["threads"], 1);
    EXPECT_EQ(r["prompt_tokens"], 8);
    EXPECT_EQ(r["device"], "cpu");
    seen.insert({gpu, r["offload_to"].get<std::string>(), r["prefetch"].get<int64_t>()});
    const double tps = r["tokens_per_second"], t = r["total_inference_time"];
    EXPECT_NEAR(tps * t, 6.0, 1e-6 * 6);
    EXPECT_GT(r["load_time_seconds"].get<double>(), 0);
    EXPECT_GT(r["peak_rss_gb"].get<double>(), 0);
    EXPECT_GT(r["peak_vram_gb"].get<double>(), 0);
    EXPECT_GE(r["stall_fraction"].get<double>(), 0);
    EXPECT_LE(r["stall_fraction"].get<double>(), 1);
    EXPECT_EQ(r["per_layer_load_times"].size(), static_cast<size_t>(cpu));
    double streamed = 0;
    for (int64_t l = gpu; l < 5; ++l) streamed += layer_bytes[l];
    EXPECT_DOUBLE_EQ(r["bytes_streamed_per_token"].get<double>(), streamed);
  }
  EXPECT_EQ(seen.size(), 8u) << "every configuration once";

  std::ifstream f(svg_path);
  const std::string svg((std::istreambuf_iterator<char>(f)), {});
  std::string root;
  EXPECT_EQ(xml_problem(svg, &root), "");
  EXPECT_EQ(root, "svg");
  EXPECT_NE(svg.find("tokens/s"), std::string::npos);
  EXPECT_NE(svg.find("stall fraction"), std::string::npos);
  EXPECT_NE(svg.find("offloaded layers"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"legend-entry\""), 4u);  // ram/disk x prefetch 0/1
  for (const char* label :
       {"ram, prefetch 0", "ram, prefetch 1", "disk, prefetch 0", "disk, prefetch 1"}) {
    EXPECT_NE(svg.find(std::string(">") + label + "<"), std::string::npos) << label;
  }
  EXPECT_EQ(count(svg, "<polyline"), 12u);  // 4 lines in each of the 3 panels
}

TEST(Bench, SweepsTheResidentPolicy) {
  const std::string svg_path = dir() + "/keep.svg";
  Output o =
      run("bench -m " + tiny_model() +
          " --gpu-layers 5,3 --offload-to disk --prefetch 1 --keep first,spread,first-last -t 1"
          " -p 4 -n 3 -r 1 -o json --plot " +
          svg_path);
  ASSERT_EQ(o.code, 0) << o.err;
  const auto results = nlohmann::json::parse(o.out)["results"];
  ASSERT_EQ(results.size(), 4u);  // all resident once, then one per policy
  std::set<std::string> keeps;
  for (const auto& r : results) keeps.insert(r["keep"].get<std::string>());
  EXPECT_EQ(keeps, (std::set<std::string>{"none", "first", "spread", "first-last"}));
  std::ifstream f(svg_path);
  const std::string svg((std::istreambuf_iterator<char>(f)), {});
  for (const char* label :
       {"disk, prefetch 1, first", "disk, prefetch 1, spread", "disk, prefetch 1, first-last"}) {
    EXPECT_NE(svg.find(std::string(">") + label + "<"), std::string::npos) << label;
  }
  o = run("bench -m " + tiny_model() + " --gpu-layers 3 --keep first,middle -n 1 -p 2");
  EXPECT_NE(o.code, 0);
  EXPECT_NE(o.err.find("--keep must be"), std::string::npos) << o.err;
}

TEST(Bench, ProbeThenMarkdownAndCsvReports) {
  Output p = run("bench --probe --probe-bytes 64M --probe-dir " + dir());
  ASSERT_EQ(p.code, 0) << p.err;
  for (const char* s : {"disk, O_DIRECT", "page cache", "memcpy, 1 thread", "memcpy, 2 threads",
                        "DRAM reads, 2 threads", "no GPU", "sim device copy", "GB/s"}) {
    EXPECT_NE(p.out.find(s), std::string::npos) << s << " in " << p.out;
  }
  std::ifstream cache(dir() + "/cache/probe.json");
  nlohmann::json pj = nlohmann::json::parse(cache, nullptr, false);
  ASSERT_FALSE(pj.is_discarded());
  EXPECT_GT(pj["disk_direct_gbps"].get<double>(), 0);
  const auto passes = pj["disk_direct_passes_gbps"].get<std::vector<double>>();
  ASSERT_EQ(passes.size(), 5u);
  EXPECT_DOUBLE_EQ(*std::max_element(passes.begin(), passes.end()),
                   pj["disk_direct_gbps"].get<double>());
  EXPECT_GT(pj["memcpy_gbps"]["1"].get<double>(), 0);
  EXPECT_GT(pj["dram_read_gbps"]["2"].get<double>(), 0);
  for (const auto& e : std::filesystem::directory_iterator(dir())) {
    EXPECT_EQ(e.path().filename().string().rfind(".strata-probe-", 0), std::string::npos)
        << "the probe file was left behind";
  }

  // Nothing offloaded at 5 of 5 layers: that configuration runs once, not once per tier.
  Output md = run("bench -m " + tiny_model() +
                  " --gpu-layers 5,2 --offload-to disk,ram -t 1 -p 4 -n 3 -r 2");
  ASSERT_EQ(md.code, 0) << md.err;
  std::string header;
  for (std::istringstream in(md.out); std::getline(in, header);) {
    if (header.rfind("| model_name", 0) == 0) break;
  }
  for (const char* f : kFields) {
    if (std::string(f).find("_std") != std::string::npos) continue;
    EXPECT_NE(header.find(std::string(" ") + f + " |"), std::string::npos) << f << " in " << header;
  }
  EXPECT_EQ(count(md.out, "\n| "), 4u) << md.out;  // header + full + 2 partial
  EXPECT_NE(md.out.find(" ± "), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("% of disk)"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("% of memcpy)"), std::string::npos) << md.out;
  EXPECT_NE(md.err.find("% of disk"), std::string::npos) << md.err;

  Output csv = run("bench -m " + tiny_model() +
                   " --gpu-layers 2 --offload-to disk -t 1 -p 4 -n 3 -r 1 -o csv");
  ASSERT_EQ(csv.code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("model_name,total_layers,gpu_layers,cpu_layers,loading_mode,", 0), 0u)
      << csv.out;
  EXPECT_EQ(count(csv.out, "\n"), 2u);
  EXPECT_NE(csv.out.find(",disk,"), std::string::npos);
}

TEST(Bench, BadSweepValuesFailClearly) {
  Output o = run("bench -m " + tiny_model() + " --gpu-layers 3,x -p 4 -n 2 -r 1");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("--gpu-layers must be a number or auto, got 'x'"), std::string::npos)
      << o.err;
  o = run("bench -m " + tiny_model() + " --offload-to ram,tape -p 4 -n 2 -r 1");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("tape"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace strata
