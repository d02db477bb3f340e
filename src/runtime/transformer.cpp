#include "runtime/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/timer.h"

namespace strata {

Transformer::Transformer(const ModelConfig& config, WeightStore& store, ThreadPool& pool,
                         int64_t n_ctx, int64_t max_batch)
    : c_(config), store_(store), pool_(pool), n_ctx_(n_ctx), max_batch_(max_batch) {
  const int64_t half = c_.head_dim / 2;
  rope_inv_freq_.resize(half);
  std::vector<float> div = c_.llama3_rope_divisors();
  const WeightView& freqs = store_.globals()[GlobalTensor::kRopeFreqs];
  for (int64_t i = 0; i < half; ++i) {
    // Same expression as llama2.c's run.c, so stories260K matches it to the last bits we can.
    float freq =
        1.0f / powf(c_.rope_theta, static_cast<float>(2 * i) / static_cast<float>(c_.head_dim));
    if (!freqs.empty())
      freq /= static_cast<const float*>(freqs.data)[i];
    else
      freq /= div[i];
    rope_inv_freq_[i] = freq;
  }
  const int64_t b = max_batch_;
  x_.resize(b * c_.n_embd);
  xb_.resize(b * std::max(c_.n_embd, c_.q_dim()));
  q_.resize(b * c_.q_dim());
  k_.resize(b * c_.kv_dim());
  v_.resize(b * c_.kv_dim());
  att_out_.resize(b * c_.q_dim());
  hb_.resize(b * c_.n_ff);
  hb2_.resize(b * c_.n_ff);
  if (c_.is_moe()) moe_ = std::make_unique<MoeFfn>(c_, max_batch_);
  att_scores_.resize(static_cast<size_t>(pool_.n_threads()) * n_ctx_);
  kv_slice_.resize(static_cast<size_t>(pool_.n_threads()) * c_.head_dim);
}

void Transformer::rope(float* vec, int64_t n_heads, int64_t position) const {
  const int64_t hd = c_.head_dim, half = hd / 2;
  for (int64_t i = 0; i < half; ++i) {
    float val = static_cast<float>(position) * rope_inv_freq_[i];
    float fcr = cosf(val), fci = sinf(val);
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = vec + h * hd;
      int64_t a = c_.rope_style == RopeStyle::kInterleaved ? 2 * i : i;
      int64_t b = c_.rope_style == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
      float v0 = v[a], v1 = v[b];
      v[a] = v0 * fcr - v1 * fci;
      v[b] = v0 * fci + v1 * fcr;
    }
  }
}

void Transformer::attention(int64_t n_tok, int64_t layer) {
  const int64_t hd = c_.head_dim, q_dim = c_.q_dim();
  const int64_t group = c_.n_head / c_.n_head_kv;
  const float scale = 1.0f / sqrtf(static_cast<float>(hd));
  const int64_t n_items = n_tok * c_.n_head;
  // Work items (token, head) are handed out in shrinking chunks as threads ask (an item's
  // result does not depend on which thread runs it); the thread's index picks its scratch.
  pool_.parallel_for_dynamic_indexed(n_items, 1, 1, [&](int64_t begin, int64_t end, int thread) {
    float* att = att_scores_.data() + thread * n_ctx_;
    float* slice = kv_slice_.data() + thread * hd;  // a Q8_0 head slice, dequantized
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / c_.n_head, h = item % c_.n_head;
      const int64_t p = tok_pos_[t];  // this token's position
      const KvCache& kv = *tok_kv_[t];
      const DType type = kv.dtype();
      const int64_t first =
          c_.sliding_window > 0 && p >= c_.sliding_window ? p - c_.sliding_window + 1 : 0;
      const float* q = q_.data() + t * q_dim + h * hd;
      // This head's slice of a cached row: whole elements (F32, F16) or whole blocks
      // (Q8_0: check_kv_type asks head_dim % 32 == 0).
      const int64_t head_off = row_bytes(type, (h / group) * hd);
      const TypeTraits& tt = type_traits(type);
      float* out = att_out_.data() + t * q_dim + h * hd;
      const int64_t n_pos = p - first + 1;
      if (type == DType::kF16) {
        // Every position at once (one cache row apart).
        const int64_t stride = kv.row_bytes();
        attention_scores_f16(q, kv.k(layer, first) + head_off, stride, n_pos, hd, att);
        for (int64_t i = 0; i < n_pos; ++i) att[i] *= scale;
        softmax_fast(att, n_pos);
        attention_mix_f16(att, kv.v(layer, first) + head_off, stride, n_pos, hd, out);
        continue;
      }
      for (int64_t s = first; s <= p; ++s) {
        const char* k = kv.k(layer, s) + head_off;
        float d;
        if (type == DType::kF32) {
          d = dot_f32(q, reinterpret_cast<const float*>(k), hd);
        } else {
          tt.to_float(k, slice, hd);
          d = dot_f32(q, slice, hd);
        }
        att[s - first] = d * scale;
      }
      // F32 caches keep run.c's softmax (the reference tests compare its bits).
      if (type == DType::kF32) {
        softmax(att, n_pos);
      } else {
        softmax_fast(att, n_pos);
      }
      std::memset(out, 0, hd * sizeof(float));
      for (int64_t s = first; s <= p; ++s) {
        const char* v = kv.v(layer, s) + head_off;
        const float a = att[s - first];
        const float* vf = reinterpret_cast<const float*>(v);
        if (type != DType::kF32) {
          tt.to_float(v, slice, hd);
          vf = slice;
        }
        for (int64_t i = 0; i < hd; ++i) out[i] += a * vf[i];
      }
    }
  });
}

Status Transformer::forward(std::span<const int32_t> tokens, int64_t pos, float* logits,
                            bool all_logits, ForwardTimings* timings) {
  // F32: the single-sequence API serves the reference tests, which compare against F32
  // implementations (llama2.c's run.c) bit for bit.
  if (!own_kv_) own_kv_ = std::make_unique<KvCache>(c_, n_ctx_, KvType::kF32);
  const SeqInput seq{own_kv_.get(), pos, tokens, logits, all_logits};
  return forward(std::span<const SeqInput>(&seq, 1), timings);
}

Status Transformer::forward(std::span<const SeqInput> seqs, ForwardTimings* timings) {
  int64_t n = 0;
  for (const SeqInput& s : seqs) {
    const int64_t len = static_cast<int64_t>(s.tokens.size());
    if (len == 0) return Status::error("forward: a sequence with no tokens");
    if (s.kv == nullptr || s.kv->n_ctx() > n_ctx_) return Status::error("forward: bad KV cache");
    if (s.pos < 0 || s.pos + len > s.kv->n_ctx()) {
      return Status::errorf("context full: positions {}..{} exceed the context of {} (use -c)",
                            s.pos, s.pos + len - 1, s.kv->n_ctx());
    }
    n += len;
  }
  if (n == 0) return Status::error("forward: no tokens");
  if (n > max_batch_)
    return Status::errorf("forward: {} tokens exceed the batch of {}", n, max_batch_);
  tok_pos_.clear();
  tok_kv_.clear();
  for (const SeqInput& s : seqs) {
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      tok_pos_.push_back(s.pos + static_cast<int64_t>(i));
      tok_kv_.push_back(s.kv);
    }
  }
  const int64_t d = c_.n_embd, q_dim = c_.q_dim(), kv_dim = c_.kv_dim(), hd = c_.head_dim;
  const GlobalWeights& g = store_.globals();
  const WeightView& emb = g[GlobalTensor::kTokEmbd];
  {
    ids_.clear();
    for (const SeqInput& s : seqs) {
      for (int32_t id : s.tokens) {
        if (id < 0 || id >= c_.n_vocab) {
          return Status::errorf("token id {} is outside the vocabulary of {}", id, c_.n_vocab);
        }
        ids_.push_back(id);
      }
    }
    if (emb.empty()) {
      STRATA_TRY(store_.embedding_rows(ids_, x_.data()));  // read from disk, the rows only
    } else {
      for (int64_t t = 0; t < n; ++t) row_to_f32(emb, ids_[t], x_.data() + t * d);
    }
  }
  if (timings) {
    timings->layer_compute_s.assign(c_.n_layer, 0.0);
    timings->layer_acquire_s.assign(c_.n_layer, 0.0);
  }
  for (int64_t l = 0; l < c_.n_layer; ++l) {
    double t_acquire = now_seconds();
    STRATA_ASSIGN_OR_RETURN(const LayerWeights* w, store_.acquire(l));
    // A cache on disk: this layer's positions in RAM (read ahead while the last layer ran).
    for (const SeqInput& s : seqs) {
      const int64_t len = static_cast<int64_t>(s.tokens.size());
      if (Status st = s.kv->begin_layer(l, s.pos, s.pos + len); !st) {
        store_.release(l);
        return st;
      }
    }
    double t_start = now_seconds();
    const LayerWeights& L = *w;
    // Attention block.
    const float* attn_norm = static_cast<const float*>(L[LayerTensor::kAttnNorm].data);
    for_tokens(n, [&](int64_t t) {
      rmsnorm(xb_.data() + t * d, x_.data() + t * d, attn_norm, d, c_.rms_eps);
    });
    {
      MatmulInput normed(xb_.data(), n, d);  // quantized once for q, k and v
      const MatmulPart qkv[] = {{&L[LayerTensor::kWq], q_.data()},
                                {&L[LayerTensor::kWk], k_.data()},
                                {&L[LayerTensor::kWv], v_.data()}};
      matmul(pool_, qkv, normed);
    }
    // Per token: biases, q/k norms, rotary positions, and the K and V rows into the cache.
    const float* bq = c_.qkv_bias ? static_cast<const float*>(L[LayerTensor::kBq].data) : nullptr;
    const float* bk = c_.qkv_bias ? static_cast<const float*>(L[LayerTensor::kBk].data) : nullptr;
    const float* bv = c_.qkv_bias ? static_cast<const float*>(L[LayerTensor::kBv].data) : nullptr;
    const float* qn = c_.qk_norm ? static_cast<const float*>(L[LayerTensor::kQNorm].data) : nullptr;
    const float* kn = c_.qk_norm ? static_cast<const float*>(L[LayerTensor::kKNorm].data) : nullptr;
    for_tokens(n, [&](int64_t t) {
      float* q = q_.data() + t * q_dim;
      float* k = k_.data() + t * kv_dim;
      float* v = v_.data() + t * kv_dim;
      if (c_.qkv_bias) {
        for (int64_t i = 0; i < q_dim; ++i) q[i] += bq[i];
        for (int64_t i = 0; i < kv_dim; ++i) k[i] += bk[i];
        for (int64_t i = 0; i < kv_dim; ++i) v[i] += bv[i];
      }
      if (c_.qk_norm) {
        for (int64_t h = 0; h < c_.n_head; ++h) rmsnorm(q + h * hd, q + h * hd, qn, hd, c_.rms_eps);
        for (int64_t h = 0; h < c_.n_head_kv; ++h)
          rmsnorm(k + h * hd, k + h * hd, kn, hd, c_.rms_eps);
      }
      const int64_t p = tok_pos_[t];
      rope(q, c_.n_head, p);
      rope(k, c_.n_head_kv, p);
      tok_kv_[t]->store(l, p, k, v);
    });
    attention(n, l);
    for (const SeqInput& s : seqs)
      s.kv->end_layer(l, s.pos, s.pos + static_cast<int64_t>(s.tokens.size()));
    matmul(pool_, L[LayerTensor::kWo], att_out_.data(), n, xb_.data());
    // The residual, then the feed-forward block (SwiGLU).
    const float* ffn_norm = static_cast<const float*>(L[LayerTensor::kFfnNorm].data);
    for_tokens(n, [&](int64_t t) {
      float* x = x_.data() + t * d;
      float* xb = xb_.data() + t * d;
      for (int64_t i = 0; i < d; ++i) x[i] += xb[i];
      rmsnorm(xb, x, ffn_norm, d, c_.rms_eps);
    });
    if (moe_) {
      Status st = moe_->forward(pool_, L, store_.experts(l), l, xb_.data(), n, xb_.data());
      if (!st) {
        store_.release(l);
        return st;
      }
    } else {
      {
        MatmulInput normed(xb_.data(), n, d);  // quantized once for gate and up
        const MatmulPart gate_up[] = {{&L[LayerTensor::kGate], hb_.data()},
                                      {&L[LayerTensor::kUp], hb2_.data()}};
        matmul(pool_, gate_up, normed);
      }
      const int64_t nf = c_.n_ff;
      for_tokens(n, [&](int64_t t) {
        float* h = hb_.data() + t * nf;
        const float* h2 = hb2_.data() + t * nf;
        for (int64_t i = 0; i < nf; ++i) {
          float v = h[i];
          v *= 1.0f / (1.0f + expf(-v));
          h[i] = v * h2[i];
        }
      });
      matmul(pool_, L[LayerTensor::kDown], hb_.data(), n, xb_.data());
    }
    for_tokens(n, [&](int64_t t) {
      float* x = x_.data() + t * d;
      const float* xb = xb_.data() + t * d;
      for (int64_t i = 0; i < d; ++i) x[i] += xb[i];
    });
    store_.release(l);
    if (timings) {
      double t_end = now_seconds();
      timings->layer_acquire_s[l] = t_start - t_acquire;
      timings->layer_compute_s[l] = t_end - t_start;
    }
  }
  // Final norm and classifier, for each sequence's last token or all of its tokens.
  const float* out_norm = static_cast<const float*>(g[GlobalTensor::kOutputNorm].data);
  int64_t n_out = 0, t0 = 0;
  for (const SeqInput& s : seqs) {
    const int64_t len = static_cast<int64_t>(s.tokens.size());
    for (int64_t t = s.all_logits ? t0 : t0 + len - 1; t < t0 + len; ++t, ++n_out) {
      rmsnorm(xb_.data() + n_out * d, x_.data() + t * d, out_norm, d, c_.rms_eps);
    }
    t0 += len;
  }
  const int64_t V = c_.n_vocab;
  float* logits = seqs[0].logits;
  if (seqs.size() > 1) {
    multi_logits_.resize(static_cast<size_t>(n_out) * V);
    logits = multi_logits_.data();
  }
  if (RowStream* head = store_.head()) {
    // Chunk by chunk of vocabulary rows, as they stream; the activations are quantized once
    // and every row is computed as in one matmul, so the logits are the same bits.
    MatmulInput in(xb_.data(), n_out, d);
    for (int64_t chunk = 0; chunk < head->n_chunks(); ++chunk) {
      STRATA_ASSIGN_OR_RETURN(const WeightView w, head->acquire(chunk));
      const int64_t first = chunk * head->chunk_rows();
      if (n_out == 1) {
        matmul(pool_, w, in, logits + first);
      } else {
        head_rows_.resize(static_cast<size_t>(n_out * w.rows));
        matmul(pool_, w, in, head_rows_.data());
        for (int64_t t = 0; t < n_out; ++t) {
          std::memcpy(logits + t * V + first, head_rows_.data() + t * w.rows,
                      static_cast<size_t>(w.rows) * sizeof(float));
        }
      }
      head->release(chunk);
    }
  } else {
    matmul(pool_, c_.tied_embeddings ? emb : g[GlobalTensor::kOutput], xb_.data(), n_out, logits);
  }
  if (seqs.size() == 1) return Status::ok();
  const float* row = multi_logits_.data();
  for (const SeqInput& s : seqs) {
    const int64_t rows = s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
    std::memcpy(s.logits, row, static_cast<size_t>(rows) * V * sizeof(float));
    row += rows * V;
  }
  return Status::ok();
}

}  // namespace strata
