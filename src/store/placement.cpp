#include "store/placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace strata {

const char* tier_name(Tier t) {
  switch (t) {
    case Tier::kDevice:
      return "device";
    case Tier::kHost:
      return "ram";
    case Tier::kDisk:
      return "disk";
  }
  return "?";
}

std::string format_bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.1f} MiB", b / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", b / double(1ull << 10));
  return fmt::format("{} B", b);
}

Result<uint64_t> parse_bytes(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0)
    return Status::errorf("'{}' is not a size (examples: 512M, 2G, 1.5GiB, 1000000)", text);
  double v = std::strtod(text.substr(0, i).c_str(), nullptr);
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double mul = 1;
  if (unit.empty() || unit == "b")
    mul = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    mul = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    mul = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    mul = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib")
    mul = 1024.0 * 1024 * 1024 * 1024;
  else
    return Status::errorf("'{}': unknown size unit '{}' (use K, M, G or T)", text, unit);
  double bytes = v * mul;
  if (!(bytes >= 0) || bytes > 1.8e19) return Status::errorf("'{}' is out of range", text);
  return static_cast<uint64_t>(bytes);
}

int64_t PlacementPlan::n_resident() const {
  return std::count(layer_tier.begin(), layer_tier.end(), Tier::kDevice);
}

std::string PlacementPlan::describe() const {
  const int64_t n = static_cast<int64_t>(layer_tier.size());
  std::string map;
  for (int64_t l = 0; l < n; ++l) {
    const Tier t = layer_tier[l];
    map += t == Tier::kDevice ? 'D' : t == Tier::kHost ? 'R' : streams_experts(l) ? 'E' : 'S';
  }
  std::string s = fmt::format(
      "placement: {}/{} layers resident, {} streamed from {} | prefetch {} | {} slots x {} | "
      "device {} | ram {} | disk {} | layers [{}] (D resident, R ram, S disk{})",
      n_resident(), n, n_streamed(), tier_name(offload_tier), prefetch, n_slots,
      format_bytes(slot_bytes), format_bytes(device_bytes), format_bytes(host_bytes),
      format_bytes(disk_bytes), map, experts_streamed ? ", E experts from disk" : "");
  if (experts_streamed) {
    s += fmt::format(
        "\nexperts: streamed layers keep attention, norms and router resident and read the "
        "experts routing picks | expert cache {} x {} = {} ({:.1f}% of {} streamed experts)",
        expert_slots, format_bytes(expert_slot_bytes),
        format_bytes(static_cast<uint64_t>(expert_slots) * expert_slot_bytes),
        100.0 * static_cast<double>(expert_slots) / static_cast<double>(streamed_experts),
        streamed_experts);
  }
  if (head_streamed || embd_streamed) {
    s += fmt::format("\nhead: {}{}",
                     head_streamed ? "output head streamed from disk in row chunks (" +
                                         format_bytes(head_chunk_bytes) + " of buffers)"
                                   : "output head resident",
                     embd_streamed ? ", embedding rows read from disk as tokens need them" : "");
  }
  if (!auto_note.empty()) s += "\n" + auto_note;
  return s;
}

const char* resident_policy_name(ResidentPolicy p) {
  switch (p) {
    case ResidentPolicy::kFirst:
      return "first";
    case ResidentPolicy::kFirstLast:
      return "first-last";
    case ResidentPolicy::kSpread:
      return "spread";
  }
  return "?";
}

namespace {

std::vector<Tier> assign(int64_t n_layer, int64_t n_resident, ResidentPolicy keep, Tier off) {
  std::vector<Tier> t(n_layer, off);
  if (keep == ResidentPolicy::kFirst) {
    for (int64_t l = 0; l < n_resident; ++l) t[l] = Tier::kDevice;
  } else if (keep == ResidentPolicy::kSpread) {
    // Streamed layer j of s sits at the end of the j-th of s equal stretches of the stack.
    const int64_t s = n_layer - n_resident;
    for (int64_t l = 0; l < n_layer; ++l) t[l] = Tier::kDevice;
    for (int64_t j = 0; j < s; ++j) t[(j + 1) * n_layer / s - 1] = off;
  } else {
    const int64_t head = (n_resident + 1) / 2, tail = n_resident / 2;
    for (int64_t l = 0; l < head; ++l) t[l] = Tier::kDevice;
    for (int64_t l = n_layer - tail; l < n_layer; ++l) t[l] = Tier::kDevice;
  }
  return t;
}

struct Cost {
  uint64_t device = 0, host = 0, disk = 0;
  uint64_t ram = 0;  // everything that lives in host RAM, for --ram-budget
};

// Whether streamed layer `l` streams its experts alone (its other tensors resident).
bool expert_layer(const PlanInputs& in, bool experts, size_t l) {
  return experts && l < in.dense_bytes.size() && in.dense_bytes[l] > 0;
}

// Whether the embedding streams: a tied one with the head, an untied one as soon as anything
// streams (a token reads one row of it).
bool embd_streams(const std::vector<Tier>& tiers, const PlanInputs& in, bool head_stream) {
  if (in.embd_bytes == 0) return false;
  if (in.head_bytes == 0 || head_stream) return head_stream;
  return std::any_of(tiers.begin(), tiers.end(), [](Tier t) { return t == Tier::kDisk; });
}

Cost cost_of(const std::vector<Tier>& tiers, const PlanInputs& in, int n_slots, bool experts,
             int64_t expert_slots, bool head_stream) {
  Cost c;
  c.device = in.globals_bytes + static_cast<uint64_t>(n_slots) * in.slot_bytes +
             static_cast<uint64_t>(expert_slots) * in.expert_slot_bytes;
  const bool embd = embd_streams(tiers, in, head_stream);
  (embd ? c.disk : c.device) += in.embd_bytes;
  if (head_stream) {
    c.device += in.head_chunk_bytes;
    c.disk += in.head_bytes;
  } else {
    c.device += in.head_bytes;
  }
  for (size_t l = 0; l < tiers.size(); ++l) {
    uint64_t off = in.layer_bytes[l];
    if (tiers[l] == Tier::kDevice) {
      c.device += off;
      continue;
    }
    if (expert_layer(in, experts, l)) {
      c.device += in.dense_bytes[l];
      off -= in.dense_bytes[l];
    }
    (tiers[l] == Tier::kHost ? c.host : c.disk) += off;
  }
  // Devices that do not share host memory stage disk reads through pinned host buffers.
  const bool any_disk = c.disk > 0;
  if (!in.device_shares_host && any_disk) c.host += static_cast<uint64_t>(n_slots) * in.slot_bytes;
  c.ram = c.host + in.runtime_bytes + (in.device_shares_host ? c.device : 0);
  return c;
}

}  // namespace

namespace {
Result<PlacementPlan> plan_with_prefetch(const PlacementOptions& o, const PlanInputs& in,
                                         bool head_stream) {
  const int64_t n_layer = static_cast<int64_t>(in.layer_bytes.size());
  PlacementPlan p;
  p.prefetch = o.prefetch;
  if (o.offload_to == "ram")
    p.offload_tier = Tier::kHost;
  else if (o.offload_to == "disk")
    p.offload_tier = Tier::kDisk;
  else if (o.offload_to == "auto")
    p.offload_tier = in.device_shares_host ? Tier::kDisk : Tier::kHost;
  else
    return Status::errorf("--offload-to must be ram, disk or auto, got '{}'", o.offload_to);

  uint64_t vram_budget = o.vram_budget_bytes;
  if (in.device_capacity_bytes > 0 &&
      (vram_budget == 0 || vram_budget > in.device_capacity_bytes)) {
    vram_budget = in.device_capacity_bytes;
  }
  auto fits = [&](const Cost& c) {
    if (o.ram_budget_bytes > 0 && c.ram > o.ram_budget_bytes) return false;
    if (vram_budget > 0 && c.device > vram_budget) return false;
    return true;
  };
  // MoE layers streamed from disk stream expert by expert (whole layers from RAM: a copy of
  // a whole layer costs less than many small ones, and RAM holds every expert anyway).
  const bool experts = o.stream_experts && p.offload_tier == Tier::kDisk &&
                       in.expert_slot_bytes > 0 && !in.dense_bytes.empty();
  auto slots_for = [&](const std::vector<Tier>& t) {
    for (size_t l = 0; l < t.size(); ++l) {
      if (t[l] != Tier::kDevice && !expert_layer(in, experts, l)) return o.prefetch + 1;
    }
    return 0;
  };
  auto streamed_experts = [&](const std::vector<Tier>& t) {
    int64_t n = 0;
    for (size_t l = 0; l < t.size(); ++l)
      if (t[l] != Tier::kDevice && expert_layer(in, experts, l)) n += in.n_expert;
    return n;
  };
  // The expert cache: --expert-cache, else all the room the budgets leave (every streamed
  // expert at most), else as many bytes as whole-layer slots would take.
  auto expert_slots_for = [&](const std::vector<Tier>& t, int n_slots) -> int64_t {
    const int64_t total = streamed_experts(t);
    if (total == 0) return 0;
    const uint64_t esb = in.expert_slot_bytes;
    if (o.expert_cache_bytes > 0)
      return std::min<int64_t>(total, static_cast<int64_t>(o.expert_cache_bytes / esb));
    if (!o.ram_budget_bytes && !vram_budget)
      return std::min<int64_t>(total, (o.prefetch + 1) * in.n_expert);
    const Cost base = cost_of(t, in, n_slots, experts, 0, head_stream);
    int64_t room = total;
    if (o.ram_budget_bytes && in.device_shares_host) {
      room = base.ram >= o.ram_budget_bytes
                 ? 0
                 : std::min<int64_t>(room, (o.ram_budget_bytes - base.ram) / esb);
    }
    if (vram_budget) {
      room = base.device >= vram_budget
                 ? 0
                 : std::min<int64_t>(room, (vram_budget - base.device) / esb);
    }
    return room;
  };
  // A token routes to n_expert_used experts per layer: a smaller cache reloads them all the
  // time. An explicit --expert-cache may go down to one.
  const int64_t min_expert_slots =
      o.expert_cache_bytes > 0 ? 1 : std::max<int64_t>(1, in.n_expert_used);
  auto plan_fits = [&](const std::vector<Tier>& t) {
    const int n_slots = slots_for(t);
    const int64_t es = expert_slots_for(t, n_slots);
    if (streamed_experts(t) > 0 && es < min_expert_slots) return false;
    return fits(cost_of(t, in, n_slots, experts, es, head_stream));
  };

  int64_t n_res = o.gpu_layers;
  if (n_res > n_layer) n_res = n_layer;
  if (n_res < 0) {
    // auto: the most resident layers that fit every budget. A model whose experts stream
    // gives the room to the expert cache instead, which keeps the experts tokens use from
    // every layer, where resident layers would keep every expert of a few.
    for (n_res = n_layer; n_res > 0; --n_res) {
      auto t = assign(n_layer, n_res, o.keep, p.offload_tier);
      if (plan_fits(t)) break;
      if (experts && n_res == n_layer) n_res = 1;  // next: 0
    }
    p.auto_note = fmt::format("--gpu-layers auto chose {} of {}", n_res, n_layer);
    if (o.ram_budget_bytes) p.auto_note += ", ram budget " + format_bytes(o.ram_budget_bytes);
    if (vram_budget) p.auto_note += ", device budget " + format_bytes(vram_budget);
    if (!o.ram_budget_bytes && !vram_budget) p.auto_note += " (no budget set: all resident)";
  }
  p.layer_tier = assign(n_layer, n_res, o.keep, p.offload_tier);
  p.n_slots = slots_for(p.layer_tier);
  p.slot_bytes = p.n_slots > 0 ? in.slot_bytes : 0;
  p.layer_experts.assign(n_layer, false);
  for (int64_t l = 0; l < n_layer; ++l) p.layer_experts[l] = expert_layer(in, true, l);
  p.streamed_experts = streamed_experts(p.layer_tier);
  if (p.streamed_experts > 0) {
    p.experts_streamed = true;
    p.expert_slot_bytes = in.expert_slot_bytes;
    p.expert_slots = expert_slots_for(p.layer_tier, p.n_slots);
    if (p.expert_slots < min_expert_slots) {
      if (o.expert_cache_bytes > 0) {
        return Status::errorf("--expert-cache {} holds no expert: one takes {}",
                              format_bytes(o.expert_cache_bytes),
                              format_bytes(in.expert_slot_bytes));
      }
      p.expert_slots = min_expert_slots;  // over the budget: said below
    }
  }
  p.head_streamed = head_stream;
  p.head_chunk_bytes = head_stream ? in.head_chunk_bytes : 0;
  p.embd_streamed = embd_streams(p.layer_tier, in, head_stream);
  Cost c = cost_of(p.layer_tier, in, p.n_slots, p.experts_streamed, p.expert_slots, head_stream);
  p.device_bytes = c.device;
  p.host_bytes = c.host;
  p.disk_bytes = c.disk;
  if (o.ram_budget_bytes > 0 && c.ram > o.ram_budget_bytes) {
    return Status::errorf(
        "the plan ({} resident layers, {} streamed) needs {} of RAM (weights, slots, KV cache and "
        "scratch), more than --ram-budget {}: lower --gpu-layers, -c, --prefetch or --expert-cache",
        n_res, n_layer - n_res, format_bytes(c.ram), format_bytes(o.ram_budget_bytes));
  }
  if (vram_budget > 0 && c.device > vram_budget) {
    return Status::errorf(
        "the plan ({} resident layers) needs {} of device memory, more than the "
        "{} available: lower --gpu-layers",
        n_res, format_bytes(c.device), format_bytes(vram_budget));
  }
  return p;
}
}  // namespace

namespace {
// The prefetch depth: as asked, or auto: one layer loading ahead while one computes; only
// when that does not fit the budget even with every layer streamed, load each layer just
// before use (one slot).
Result<PlacementPlan> plan_with_head(const PlacementOptions& o, const PlanInputs& in,
                                     bool head_stream) {
  if (o.prefetch >= 0) return plan_with_prefetch(o, in, head_stream);
  PlacementOptions one = o;
  one.prefetch = 1;
  Result<PlacementPlan> r = plan_with_prefetch(one, in, head_stream);
  if (r.is_ok()) return r;
  PlacementOptions none = o;
  none.prefetch = 0;
  Result<PlacementPlan> r0 = plan_with_prefetch(none, in, head_stream);
  if (!r0.is_ok()) return r0;
  r0->auto_note += (r0->auto_note.empty() ? "" : "; ") +
                   std::string("--prefetch auto chose 0 (a second slot does not fit the budget)");
  return r0;
}
}  // namespace

Result<PlacementPlan> make_placement_plan(const PlacementOptions& o, const PlanInputs& in) {
  if (o.prefetch < -1 || o.prefetch > 16) {
    return Status::errorf("--prefetch must be between 0 and 16 (or auto), got {}", o.prefetch);
  }
  if (o.output_head != "auto" && o.output_head != "resident" && o.output_head != "stream") {
    return Status::errorf("--output-head must be auto, resident or stream, got '{}'",
                          o.output_head);
  }
  // The head streams from disk only (from RAM it would be resident in RAM anyway).
  const bool can_stream =
      in.embd_bytes > 0 && in.head_chunk_bytes > 0 &&
      (o.offload_to == "disk" || (o.offload_to == "auto" && in.device_shares_host));
  if (o.output_head == "stream") {
    if (!can_stream) {
      return Status::error(
          "--output-head stream needs the head streamed from disk (--offload-to disk)");
    }
    return plan_with_head(o, in, true);
  }
  Result<PlacementPlan> r = plan_with_head(o, in, false);
  if (r.is_ok() || o.output_head == "resident" || !can_stream) return r;
  // auto: a head read every token costs as much as streaming its bytes, so it streams only
  // when nothing fits with it resident.
  Result<PlacementPlan> s = plan_with_head(o, in, true);
  if (!s.is_ok()) return r;
  s->auto_note +=
      (s->auto_note.empty() ? "" : "; ") +
      std::string("--output-head auto streams the head (nothing fits with it resident)");
  return s;
}

}  // namespace strata
