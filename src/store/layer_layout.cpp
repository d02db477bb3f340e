#include "store/layer_layout.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/units.h"

namespace strata {

namespace {
// Gaps up to this size between a layer's tensors are read rather than skipped: one larger
// request costs less than two requests plus a seek.
constexpr uint64_t kMaxGapBytes = 1 << 20;
constexpr uint64_t kSideAlignBytes = 64;
}  // namespace

uint64_t aligned_read_bytes(uint64_t offset, uint64_t nbytes) {
  return align_up(offset + nbytes, kDirectIoAlignBytes) - align_down(offset, kDirectIoAlignBytes);
}

AlignedRead aligned_read(uint32_t file_index, uint64_t offset, uint64_t nbytes, char* buf,
                         uint64_t elem_align) {
  AlignedRead r;
  const uint64_t begin = align_down(offset, kDirectIoAlignBytes);
  r.request = {file_index, begin, aligned_read_bytes(offset, nbytes), buf};
  r.landed = buf + (offset - begin);
  const uint64_t at = offset - begin;
  r.data = buf + (at - at % elem_align);  // moving down stays inside the buffer
  r.nbytes = nbytes;
  return r;
}

void AlignedRead::realign() const {
  if (data != landed) std::memmove(data, landed, nbytes);
}

LayerLayout make_layer_layout(const TensorIndex& index, const TensorSpec* specs, int n_specs) {
  LayerLayout L;
  L.tensors.resize(n_specs);
  std::vector<int> order;
  for (int i = 0; i < n_specs; ++i) {
    if (specs[i].name.empty()) continue;
    const TensorInfo* t = index.find(specs[i].name);
    if (!t) continue;
    L.tensors[i].info = t;
    L.tensor_bytes += t->nbytes;
    order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const TensorInfo *x = L.tensors[a].info, *y = L.tensors[b].info;
    return x->file_index != y->file_index ? x->file_index < y->file_index : x->offset < y->offset;
  });
  uint64_t slot = 0;
  for (int i : order) {
    const TensorInfo* t = L.tensors[i].info;
    const uint64_t begin = align_down(t->offset, kDirectIoAlignBytes);
    const uint64_t end = align_up(t->offset + t->nbytes, kDirectIoAlignBytes);
    Extent* last = L.extents.empty() ? nullptr : &L.extents.back();
    if (last && last->file_index == t->file_index &&
        begin <= last->file_offset + last->nbytes + kMaxGapBytes && begin >= last->file_offset) {
      const uint64_t new_end = std::max(end, last->file_offset + last->nbytes);
      slot += new_end - (last->file_offset + last->nbytes);
      last->nbytes = new_end - last->file_offset;
    } else {
      L.extents.push_back({t->file_index, begin, end - begin, slot});
      slot += end - begin;
      last = &L.extents.back();
    }
    L.tensors[i].slot_offset = last->slot_offset + (t->offset - last->file_offset);
  }
  L.read_bytes = slot;
  uint64_t side = slot;
  for (int i : order) {
    TensorPlace& p = L.tensors[i];
    if (p.info->shape.size() == 1 && p.info->dtype != DType::kF32) {
      p.widen = true;
      p.side_offset = align_up(side, kSideAlignBytes);
      side = p.side_offset + static_cast<uint64_t>(p.info->n_elements()) * 4;
    } else if (p.slot_offset % dtype_alignment(*p.info->dtype) != 0) {
      p.realign = true;
      p.side_offset = align_up(side, kSideAlignBytes);
      side = p.side_offset + p.info->nbytes;
    }
  }
  L.total_bytes = align_up(side, kDirectIoAlignBytes);
  return L;
}

std::vector<ReadRequest> layout_reads(const LayerLayout& layout, char* base) {
  std::vector<ReadRequest> r;
  for (const Extent& e : layout.extents)
    r.push_back({e.file_index, e.file_offset, e.nbytes, base + e.slot_offset});
  return r;
}

void finalize_layout(const LayerLayout& layout, char* base) {
  for (const TensorPlace& p : layout.tensors) {
    if (!p.info) continue;
    const char* src = base + p.slot_offset;
    if (p.realign) std::memcpy(base + p.side_offset, src, p.info->nbytes);
    if (!p.widen) continue;
    // The source may be misaligned: convert from an aligned copy.
    std::vector<char> raw(src, src + p.info->nbytes);
    type_traits(*p.info->dtype)
        .to_float(raw.data(), reinterpret_cast<float*>(base + p.side_offset), p.info->n_elements());
  }
}

void layout_views(const LayerLayout& layout, const char* base, WeightView* views) {
  for (size_t i = 0; i < layout.tensors.size(); ++i) {
    const TensorPlace& p = layout.tensors[i];
    views[i] = WeightView{};
    if (!p.info) continue;
    WeightView v;
    v.data = base + (p.widen || p.realign ? p.side_offset : p.slot_offset);
    v.dtype = p.widen ? DType::kF32 : *p.info->dtype;
    v.cols = p.info->shape.back();
    v.rows = p.info->shape.size() >= 2 ? p.info->n_elements() / v.cols : 1;
    v.row_bytes = row_bytes(v.dtype, v.cols);
    views[i] = v;
  }
}

void layout_views(const LayerLayout& layout, const char* base, LayerWeights* views) {
  std::vector<WeightView> all(layout.tensors.size());
  layout_views(layout, base, all.data());
  STRATA_CHECK(all.size() >= views->t.size(), "a layer layout of {} tensors", all.size());
  std::copy(all.begin(), all.begin() + views->t.size(), views->t.begin());
  views->split_experts.assign(all.begin() + views->t.size(), all.end());
}

}  // namespace strata
