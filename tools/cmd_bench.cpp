// strata bench: sweeps placement configurations (comma lists of --gpu-layers, --offload-to,
// --prefetch, --keep, -t) and reports, per configuration, the article's BenchmarkResult fields plus
// streaming figures, as mean ± standard deviation over repetitions. Every repetition runs in
// a fresh child process (this binary with --bench-child) so load time and peak RSS belong to
// that configuration alone. `strata bench --probe` measures the machine's ceilings once.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/data_dir.h"
#include "core/file.h"
#include "core/log.h"
#include "model/model_source.h"
#include "store/placement.h"
#include "tools/bench_plot.h"
#include "tools/bench_probe.h"
#include "tools/bench_report.h"
#include "tools/bench_run.h"
#include "tools/commands.h"
#include "tools/options.h"

extern char** environ;

namespace strata::cli {

namespace {

// A bench child prints exactly one line starting with this, then its result as JSON.
constexpr const char* kChildTag = "strata-bench-result ";

struct BenchArgs {
  EngineOptions engine;
  PlacementText placement;
  std::string threads;  // comma list; "" = all hardware threads
  int64_t n_prompt = 32;
  int64_t n_gen = 50;
  float temp = 0;  // 0: greedy; > 0: sampled with a fixed seed (varied tokens, same run to run)
  int64_t reps = 3;
  std::string output = "md";
  std::string plot;
  bool drop_caches = false;
  bool probe = false;
  std::string probe_dir;
  std::string probe_file;
  std::string probe_bytes = "1G";
  std::string probe_threads = "1,2";
  std::string from_json;
  bool child = false;
};

// One point of the sweep, as option text for the child.
struct Config {
  std::string gpu_layers, offload_to, prefetch, keep;
  int threads = 0;
  std::string expert_cache = "auto";
  std::string describe() const {
    return fmt::format("gpu_layers {}, offload_to {}, prefetch {}, keep {}, {} thread{}{}",
                       gpu_layers, offload_to, prefetch, keep, threads, threads == 1 ? "" : "s",
                       expert_cache == "auto" ? "" : ", expert_cache " + expert_cache);
  }
};

Result<std::vector<int>> parse_int_list(const std::string& text, const char* what, int lo, int hi) {
  std::vector<int> out;
  for (const std::string& v : split_list(text)) {
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || n < lo || n > hi) {
      return Status::errorf("{} must be a comma list of numbers {}..{}, got '{}'", what, lo, hi,
                            text);
    }
    out.push_back(static_cast<int>(n));
  }
  return out;
}

// The command line this process was started with, for the report.
std::string own_command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(f)), {}), out;
  size_t at = 0;
  for (bool first = true; at < raw.size(); first = false) {
    size_t end = raw.find('\0', at);
    if (end == std::string::npos) end = raw.size();
    std::string arg = raw.substr(at, end - at);
    if (first) arg = std::filesystem::path(arg).filename().string();
    const bool plain = !arg.empty() && arg.find_first_of(" '\"$\\*?;&|<>()") == std::string::npos;
    out += (out.empty() ? "" : " ") + (plain ? arg : "'" + arg + "'");
    at = end + 1;
  }
  return out;
}

Status drop_page_cache() {
  ::sync();
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::errorf("cannot open /proc/sys/vm/drop_caches: {}", std::strerror(errno));
  const bool ok = ::write(fd, "3", 1) == 1;
  const int err = errno;
  ::close(fd);
  if (!ok) return Status::errorf("cannot write /proc/sys/vm/drop_caches: {}", std::strerror(err));
  return Status::ok();
}

// Runs this binary with `args`, returns its stdout; stderr is shared with ours.
Result<std::string> run_child(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::errorf("pipe: {}", std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  std::vector<std::string> argv_s = {"/proc/self/exe"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return Status::errorf("cannot start a bench child: {}", std::strerror(rc));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n > 0)
      out.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::errorf("the bench child failed ({} {}; its error is above)",
                          WIFEXITED(status) ? "exit code" : "signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  }
  return out;
}

// The child's command line: one configuration, every other option passed through.
std::vector<std::string> child_args(const BenchArgs& a, const Config& c) {
  const EngineOptions& e = a.engine;
  const PlacementOptions& p = e.placement;
  std::vector<std::string> v = {"bench",
                                "--bench-child",
                                "-m",
                                e.model_path,
                                "--gpu-layers",
                                c.gpu_layers,
                                "--offload-to",
                                c.offload_to,
                                "--prefetch",
                                c.prefetch,
                                "-t",
                                std::to_string(c.threads),
                                "-p",
                                std::to_string(a.n_prompt),
                                "-n",
                                std::to_string(a.n_gen),
                                "--temp",
                                fmt::format("{}", a.temp),
                                "--keep",
                                c.keep,
                                "--expert-cache",
                                c.expert_cache,
                                "--device",
                                p.device,
                                "--io-engine",
                                p.io.engine};
  auto add = [&v](const char* flag, const std::string& value) {
    if (!value.empty()) v.insert(v.end(), {flag, value});
  };
  add("--tokenizer", e.tokenizer_path);
  add("-c", e.n_ctx > 0 ? std::to_string(e.n_ctx) : "");
  add("-b", e.n_batch > 0 ? std::to_string(e.n_batch) : "");
  add("--kv-type", kv_type_name(e.kv_type));
  add("--kv-placement", e.kv_placement != "auto" ? e.kv_placement : "");
  add("--kv-dir", e.kv_dir);
  add("--ram-budget", a.placement.ram_budget);
  add("--vram-budget", a.placement.vram_budget);
  add("--sim-vram", a.placement.sim_vram);
  add("--sim-bandwidth", p.sim.bandwidth_gbps > 0 ? fmt::format("{}", p.sim.bandwidth_gbps) : "");
  add("--sim-latency-us", p.sim.latency_us > 0 ? fmt::format("{}", p.sim.latency_us) : "");
  add("--pack", p.pack_dir);
  if (!p.auto_pack) v.push_back("--no-auto-pack");
  if (p.verify) v.push_back("--verify");
  if (!p.io.direct) v.push_back("--no-direct-io");
  if (!p.stream_experts) v.push_back("--no-stream-experts");
  if (p.expert_prefetch) v.push_back("--expert-prefetch");
  if (p.output_head != "auto") v.insert(v.end(), {"--output-head", p.output_head});
  return v;
}

int child_main(BenchArgs a) {
  set_log_level(LogLevel::kError);
  if (Status s = parse_placement(a.placement, &a.engine.placement); !s) return fail(s);
  auto threads = parse_int_list(a.threads.empty() ? "0" : a.threads, "-t", 0, 4096);
  if (!threads) return fail(threads.status());
  a.engine.n_threads = threads->front();
  // As llama-bench: the context holds the prompt and the generated tokens, no more.
  if (a.engine.n_ctx == 0) a.engine.n_ctx = a.n_prompt + a.n_gen + 1;
  auto r = run_bench_once(a.engine, a.n_prompt, a.n_gen, a.temp);
  if (!r) return fail(r.status());
  std::printf("%s%s\n", kChildTag, to_json(*r).dump().c_str());
  return 0;
}

std::string model_dir(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path abs = fs::absolute(model_path, ec);
  if (fs::is_directory(abs, ec)) return abs.string();
  return abs.parent_path().string();
}

int probe_main(const BenchArgs& a) {
  ProbeOptions po;
  po.dir = a.probe_dir.empty() ? model_dir(a.engine.model_path) : a.probe_dir;
  po.existing_file = a.probe_file;
  auto bytes = parse_bytes(a.probe_bytes);
  if (!bytes) return fail(bytes.status());
  po.file_bytes = *bytes;
  auto threads = parse_int_list(a.probe_threads, "--probe-threads", 1, 4096);
  if (!threads) return fail(threads.status());
  po.memcpy_threads = *threads;
  po.sim = a.engine.placement.sim;
  auto p = run_probe(po, [](const std::string& line) {
    std::fprintf(stderr, "strata: probe: %s\n", line.c_str());
  });
  if (!p) return fail(p.status());
  std::printf(
      "strata bench --probe, %s: %s\n", p->date.c_str(),
      p->file.empty()
          ? fmt::format("a fresh {} file in {}", format_bytes(p->file_bytes), p->dir).c_str()
          : fmt::format("the existing {} ({})", p->file, format_bytes(p->file_bytes)).c_str());
  auto line = [](const std::string& label, const std::string& value) {
    std::printf("  %-40s %s\n", label.c_str(), value.c_str());
  };
  std::string passes;
  for (double g : p->disk_direct_passes_gbps)
    passes += fmt::format("{}{:.2f}", passes.empty() ? "" : ", ", g);
  line("disk, O_DIRECT reads (" + p->reader + ")",
       fmt::format("{:6.2f} GB/s (best of {} passes: {})", p->disk_direct_gbps,
                   p->disk_direct_passes_gbps.size(), passes));
  line("page cache reads", fmt::format("{:6.2f} GB/s", p->page_cache_gbps));
  for (const auto& [t, g] : p->memcpy_gbps) {
    line(fmt::format("memcpy, {} thread{}", t, t == 1 ? "" : "s"), fmt::format("{:6.2f} GB/s", g));
  }
  for (const auto& [t, g] : p->dram_read_gbps) {
    line(fmt::format("DRAM reads, {} thread{}", t, t == 1 ? "" : "s"),
         fmt::format("{:6.2f} GB/s", g));
  }
  line("GPU host-to-device, pinned",
       p->gpu_h2d_gbps > 0 ? fmt::format("{:6.2f} GB/s ({})", p->gpu_h2d_gbps, p->gpu) : p->gpu);
  line("sim device copy",
       fmt::format("{:6.2f} GB/s ({})", p->sim_copy_gbps,
                   p->sim_limit_gbps > 0 ? fmt::format("--sim-bandwidth {}", p->sim_limit_gbps)
                                         : std::string("no --sim-bandwidth limit")));
  const std::string path = probe_cache_path();
  if (Status s = save_probe(*p, path); !s) return fail(s);
  std::printf("cached in %s\n", path.c_str());
  return 0;
}

// The sweep, with configurations that stream nothing run once per thread count: offload
// tier and prefetch depth do not apply to them.
Result<std::vector<Config>> expand_sweep(const BenchArgs& a, int64_t n_layer) {
  STRATA_ASSIGN_OR_RETURN(std::vector<int> threads,
                          parse_int_list(a.threads.empty() ? "0" : a.threads, "-t", 0, 4096));
  std::vector<Config> out;
  std::set<int> full_seen;  // thread counts whose all-resident configuration is queued
  for (int t : threads) {
    if (t == 0) t = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (const std::string& g : split_list(a.placement.gpu_layers)) {
      for (const std::string& o : split_list(a.placement.offload_to)) {
        for (const std::string& p : split_list(a.placement.prefetch)) {
          for (const std::string& k : split_list(a.placement.keep)) {
            for (const std::string& x : split_list(a.placement.expert_cache)) {
              PlacementText one = a.placement;
              one.gpu_layers = g;
              one.offload_to = o;
              one.prefetch = p;
              one.keep = k;
              one.expert_cache = x;
              PlacementOptions check;
              STRATA_TRY(parse_placement(one, &check));
              if (o != "auto" && o != "ram" && o != "disk") {
                return Status::errorf("--offload-to must be ram, disk or auto, got '{}'", o);
              }
              if (check.gpu_layers >= n_layer) {
                if (!full_seen.insert(t).second) continue;
                out.push_back({std::to_string(n_layer), "auto", "0", k, t});
                continue;
              }
              out.push_back({g, o, p, k, t, x});
            }
          }
        }
      }
    }
  }
  return out;
}

// One repetition of one configuration, in a fresh child process.
Result<BenchResult> run_config(const BenchArgs& a, const Config& c) {
  auto out = run_child(child_args(a, c));
  if (!out) return out.status().with_context(c.describe());
  const size_t at = out->find(kChildTag);
  if (at == std::string::npos) {
    return Status::errorf("{}: the bench child printed no result", c.describe());
  }
  const size_t end = out->find('\n', at);
  auto j = nlohmann::json::parse(out->substr(at + std::strlen(kChildTag), end - at), nullptr,
                                 /*allow_exceptions=*/false);
  auto r = bench_result_from_json(j);
  if (!r) return r.status().with_context(c.describe());
  return r;
}

// Writes the report to stdout in the -o format, and the plot when asked.
int emit_reports(const BenchArgs& a, const BenchContext& ctx,
                 const std::vector<BenchResult>& rows) {
  std::string text = a.output == "md"     ? format_markdown(ctx, rows)
                     : a.output == "csv"  ? format_csv(rows)
                     : a.output == "json" ? format_json(ctx, rows)
                                          : format_jsonl(rows);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (!a.plot.empty() && !rows.empty()) {
    const BenchResult& f = rows.front();
    const std::string svg = render_plot_svg(
        rows, fmt::format("{}: {} device, -p {} -n {}, {} repetition{}", f.model_name, f.device,
                          f.prompt_tokens, f.tokens_generated, f.repetitions,
                          f.repetitions == 1 ? "" : "s"));
    auto w = AtomicFileWriter::create(a.plot);
    if (!w) return fail(w.status());
    if (Status s = w->write(svg.data(), svg.size()); !s) return fail(s);
    if (Status s = w->commit(); !s) return fail(s);
    STRATA_LOG_INFO("bench: plot written to {}", a.plot);
  }
  return 0;
}

// --from-json: the reports and plot of an earlier `-o json` run, without running anything.
int from_json_main(const BenchArgs& a) {
  auto text = read_file_to_string(a.from_json, 64 << 20);
  if (!text) return fail(text.status());
  auto report = parse_json_report(*text);
  if (!report) return fail(report.status().with_context(a.from_json));
  auto& [ctx, rows] = *report;
  if (!ctx.probe.is_null()) {
    if (auto p = probe_from_json(ctx.probe)) ctx.probe_line = describe_probe(*p);
  }
  return emit_reports(a, ctx, rows);
}

int bench_main(const BenchArgs& args) {
  BenchArgs a = args;
  if (a.engine.model_path.empty()) {
    auto bundled = bundled_model_path();
    if (!bundled) return fail(bundled.status());
    a.engine.model_path = *bundled;
    // The bundled model lives in strata's data folder, which may be read-only (an installed
    // prefix) and is not where the user's models are: a probe without -m writes its file in
    // the cache folder instead.
    if (a.probe_dir.empty()) a.probe_dir = cache_dir();
  }
  if (a.child) return child_main(a);
  if (a.probe) return probe_main(a);
  if (a.output != "md" && a.output != "csv" && a.output != "json" && a.output != "jsonl") {
    return fail(Status::errorf("-o must be md, csv, json or jsonl, got '{}'", a.output));
  }
  if (!a.from_json.empty()) return from_json_main(a);
  if (a.n_prompt < 1 || a.n_gen < 1 || a.reps < 1) {
    return fail(Status::error("-p, -n and -r must be at least 1"));
  }
  auto model = open_model(a.engine.model_path);
  if (!model) return fail(model.status());
  auto configs = expand_sweep(a, model->config.n_layer);
  if (!configs) return fail(configs.status());

  BenchContext ctx;
  ctx.command = own_command_line();
  ctx.machine = machine_info();
  ctx.date = iso_date_utc();
  std::string why;
  const std::optional<ProbeResult> probe = load_probe(probe_cache_path(), &why);
  if (probe) {
    ctx.probe = probe_to_json(*probe);
    ctx.probe_line = describe_probe(*probe);
  } else if (!why.empty()) {
    STRATA_LOG_WARN("ignoring the probe cache: {}", why);
  }
  const std::string device = a.engine.placement.device;
  auto resolved_tier = [&](const std::string& o) {
    return o == "auto" ? (device == "cpu" ? "disk" : "ram") : o;
  };
  bool can_drop = a.drop_caches;
  if (a.drop_caches) {
    bool any_disk = false;
    for (const Config& c : *configs) any_disk |= resolved_tier(c.offload_to) == "disk";
    if (any_disk) {
      if (Status s = drop_page_cache(); !s) {
        can_drop = false;
        STRATA_LOG_WARN(
            "--drop-caches: {}; disk runs start with whatever the page cache holds "
            "(streamed layers bypass it anyway unless --no-direct-io)",
            s.message());
        ctx.notes = "page cache NOT dropped: " + s.message();
      } else {
        ctx.notes = "page cache dropped (echo 3 > /proc/sys/vm/drop_caches) before every disk run";
      }
    }
  }
  STRATA_LOG_INFO("bench: {} configurations x {} repetitions of -p {} -n {} on {} ({} layers)",
                  configs->size(), a.reps, a.n_prompt, a.n_gen, model->name, model->config.n_layer);
  // Repetition-major order: on a shared machine the load drifts, and this spreads the drift
  // over every configuration instead of favouring the ones that happen to run in a quiet spell.
  std::vector<std::vector<BenchResult>> runs(configs->size());
  const size_t n_runs = configs->size() * static_cast<size_t>(a.reps);
  size_t done = 0;
  for (int64_t rep = 0; rep < a.reps; ++rep) {
    for (size_t i = 0; i < configs->size(); ++i) {
      const Config& c = (*configs)[i];
      if (can_drop && resolved_tier(c.offload_to) == "disk") (void)drop_page_cache();
      auto r = run_config(a, c);
      if (!r) return fail(r.status());
      std::string stream;
      if (r->cpu_layers > 0) {
        stream = fmt::format(", stream {:.2f} GB/s", r->stream_gbps);
        if (probe) {
          const Link l =
              bounding_link(*probe, r->offload_to, r->device, a.engine.placement.io.direct);
          if (l.gbps > 0)
            stream += fmt::format(" = {:.0f}% of {}", 100 * r->stream_gbps / l.gbps, l.name);
        }
        stream += fmt::format(", stall {:.0f}%", 100 * r->stall_fraction);
      }
      std::fprintf(stderr,
                   "strata: bench [%zu/%zu] rep %ld/%ld: %ld resident, %ld %s, prefetch %ld%s, %ld "
                   "thread%s: %.2f tok/s (load %.2f s, ttft %.2f s, decode %.2f tok/s)%s, peak "
                   "RSS %.2f GB\n",
                   ++done, n_runs, long(rep + 1), long(a.reps), long(r->gpu_layers),
                   long(r->cpu_layers),
                   r->offload_to == "none" ? "streamed" : r->offload_to.c_str(), long(r->prefetch),
                   r->cpu_layers > 0 ? (", keep " + r->keep).c_str() : "", long(r->threads),
                   r->threads == 1 ? "" : "s", r->tokens_per_second, r->load_time_seconds,
                   r->ttft_seconds, r->decode_tokens_per_second, stream.c_str(), r->peak_rss_gb);
      runs[i].push_back(std::move(r).value());
    }
  }
  std::vector<BenchResult> rows;
  for (const std::vector<BenchResult>& config_runs : runs) {
    BenchResult agg = aggregate(config_runs);
    if (probe && agg.cpu_layers > 0) {
      const Link l =
          bounding_link(*probe, agg.offload_to, agg.device, a.engine.placement.io.direct);
      agg.link = l.name;
      agg.link_gbps = l.gbps;
      agg.stream_link_fraction = l.gbps > 0 ? agg.stream_gbps / l.gbps : 0;
    }
    rows.push_back(std::move(agg));
  }
  ctx.machine["load_average_end"] = load_average();
  return emit_reports(a, ctx, rows);
}

}  // namespace

Command bench_command() {
  auto args = std::make_shared<BenchArgs>();
  Command c;
  c.run = [args] { return bench_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand(
        "bench",
        "Benchmark placements: comma lists of --gpu-layers, --offload-to, --prefetch, --keep, -t");
    add_engine_options(*sub, &args->engine);
    // Bench takes a comma list of thread counts instead of one number.
    sub->remove_option(sub->get_option("--threads"));
    sub->add_option("-t,--threads", args->threads,
                    "Compute threads, a comma list (default: all hardware threads)");
    add_placement_options(*sub, &args->engine.placement, &args->placement);
    sub->add_option("-p,--n-prompt", args->n_prompt, "Prompt length in tokens")
        ->capture_default_str();
    sub->add_option("--temp", args->temp,
                    "Sampling temperature of the generated tokens (0: greedy). A random-weight "
                    "model's greedy text repeats one token, and with it a mixture of experts' "
                    "routing; --temp 1 gives varied tokens (seed fixed: the same run to run)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    sub->add_option("-n,--n-gen", args->n_gen, "Tokens to generate (end-of-text is ignored)")
        ->capture_default_str();
    sub->add_option("-r,--repetitions", args->reps, "Runs per configuration, each a fresh process")
        ->capture_default_str();
    sub->add_option("-o,--output", args->output, "Report format: md, csv, json or jsonl")
        ->capture_default_str();
    sub->add_option(
        "--plot", args->plot,
        "Write an SVG of tokens/s, decode tokens/s and stall fraction against offloaded layers");
    sub->add_flag("--drop-caches", args->drop_caches,
                  "Drop the page cache before every disk configuration (needs root)");
    sub->add_flag(
        "--probe", args->probe,
        "Measure disk, page-cache, memcpy, DRAM-read and device-copy bandwidth; cache the figures");
    sub->add_option("--probe-dir", args->probe_dir,
                    "Where the probe writes its file (default: the model's directory)");
    sub->add_option("--probe-file", args->probe_file,
                    "Probe by reading this existing file (e.g. the model) instead of a fresh one");
    sub->add_option("--probe-bytes", args->probe_bytes, "Size of the probe file")
        ->capture_default_str();
    sub->add_option("--probe-threads", args->probe_threads,
                    "memcpy and DRAM-read thread counts to probe")
        ->capture_default_str();
    sub->add_option("--from-json", args->from_json,
                    "Re-render the report (-o) and --plot of an earlier -o json run; runs nothing");
    sub->add_flag("--bench-child", args->child, "(internal) run one configuration, print JSON")
        ->group("");
    return sub;
  };
  return c;
}

}  // namespace strata::cli
