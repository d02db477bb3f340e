// Byte-level BPE as in Hugging Face tokenizers (models/bpe/word.rs merge_all): each
// pre-token starts as one symbol per byte; the adjacent pair with the lowest merge rank is
// merged (leftmost on ties) until no pair has a merge. Symbols and merges are token ids, so
// a step is one hash lookup of an id pair; the vocabulary is keyed by raw bytes, so the
// input is never converted to the printable byte-level form.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <array>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/hash_maps.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenize.h"

namespace strata {
namespace {

// Reused across the pre-tokens of one encode() call.
struct BpeScratch {
  struct Symbol {
    int32_t id;  // -1: a byte with no token; kDead once merged into its left neighbour
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank, left, right;  // symbol indices
    int32_t left_id, right_id, merged_id;
  };
  static constexpr int32_t kDead = -2;
  std::vector<Symbol> syms;
  std::vector<Candidate> heap;
  std::vector<std::string_view> pieces;
  std::vector<TextFragment> frags;
  std::string normalized;
};

struct CandidateAfter {  // min-heap on (rank, left)
  bool operator()(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(Vocab vocab, StringIdMap raw_to_id, PairMergeMap merges,
               std::array<int32_t, 256> byte_ids, RegexSplitter splitter, const BpeSpec& spec)
      : vocab_(std::move(vocab)),
        raw_to_id_(std::move(raw_to_id)),
        merges_(std::move(merges)),
        byte_ids_(byte_ids),
        splitter_(std::move(splitter)),
        add_prefix_space_(spec.add_prefix_space),
        ignore_merges_(spec.ignore_merges),
        nfc_(spec.nfc) {}

  std::string kind() const override { return "bpe"; }
  int32_t n_vocab() const override { return vocab_.size(); }
  const SpecialTokens& special() const override { return vocab_.special; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos,
                              bool parse_special) const override {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && vocab_.special.bos >= 0) out.push_back(vocab_.special.bos);
    BpeScratch s;
    vocab_.added.split(text, parse_special, &s.frags);
    for (const TextFragment& f : s.frags) {
      if (f.id >= 0) {
        out.push_back(f.id);
      } else {
        encode_text(text.substr(f.begin, f.end - f.begin), &s, &out);
      }
    }
    return out;
  }

  std::string token_bytes(int32_t id, int32_t /*prev*/) const override {
    return vocab_.valid_id(id) ? vocab_.bytes[id] : std::string();
  }
  std::string token_text(int32_t id) const override {
    return vocab_.valid_id(id) ? vocab_.text[id] : std::string();
  }
  TokenType token_type(int32_t id) const override {
    return vocab_.valid_id(id) ? vocab_.type[id] : TokenType::kUndefined;
  }

 private:
  void encode_text(std::string_view text, BpeScratch* s, std::vector<int32_t>* out) const {
    if (nfc_ && !nfc_quick_check(text)) {
      s->normalized = nfc_normalize(text);
      text = s->normalized;
    }
    std::string prefixed;
    if (add_prefix_space_ && !text.empty() && text[0] != ' ') {
      prefixed.reserve(text.size() + 1);
      prefixed.push_back(' ');
      prefixed.append(text);
      text = prefixed;
    }
    splitter_.split(text, &s->pieces);
    for (std::string_view p : s->pieces) encode_piece(p, s, out);
  }

  void push_id(int32_t id, std::vector<int32_t>* out) const {
    if (id >= 0) {
      out->push_back(id);
    } else if (vocab_.special.unk >= 0) {
      out->push_back(vocab_.special.unk);
    }  // else dropped, as HF does for a character with no token and no unk
  }

  void encode_piece(std::string_view piece, BpeScratch* s, std::vector<int32_t>* out) const {
    if (piece.size() == 1) {
      push_id(byte_ids_[static_cast<uint8_t>(piece[0])], out);
      return;
    }
    if (ignore_merges_) {
      if (int32_t id = raw_to_id_.find(piece); id >= 0) {
        out->push_back(id);
        return;
      }
    }
    using Symbol = BpeScratch::Symbol;
    using Candidate = BpeScratch::Candidate;
    auto& syms = s->syms;
    auto& heap = s->heap;
    const int32_t n = static_cast<int32_t>(piece.size());
    syms.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      syms[i] = Symbol{byte_ids_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
    }
    heap.clear();
    auto consider = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const int32_t a = syms[left].id, b = syms[right].id;
      if (a < 0 || b < 0) return;
      const PairMergeMap::Merge m = merges_.find(a, b);
      if (m.rank < 0) return;
      heap.push_back(Candidate{m.rank, left, right, a, b, m.merged_id});
      std::push_heap(heap.begin(), heap.end(), CandidateAfter());
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), CandidateAfter());
      const Candidate c = heap.back();
      heap.pop_back();
      Symbol& l = syms[c.left];
      // Stale if either side has merged since (its id or neighbour changed).
      if (l.id != c.left_id || l.next != c.right || syms[c.right].id != c.right_id) continue;
      Symbol& r = syms[c.right];
      l.id = c.merged_id;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = c.left;
      r.id = BpeScratch::kDead;
      consider(l.prev, c.left);
      consider(c.left, l.next);
    }
    for (int32_t i = 0; i >= 0; i = syms[i].next) push_id(syms[i].id, out);
  }

  Vocab vocab_;
  StringIdMap raw_to_id_;  // normal tokens by their raw bytes
  PairMergeMap merges_;
  std::array<int32_t, 256> byte_ids_;  // the single-byte token of each byte, -1 if none
  RegexSplitter splitter_;
  bool add_prefix_space_;
  bool ignore_merges_;
  bool nfc_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(BpeSpec spec, const std::string& source) {
  const size_t n = spec.tokens.size();
  if (n == 0) return Status::errorf("{}: the vocabulary is empty", source);
  if (n > (1u << 24)) {
    return Status::errorf("{}: absurd vocabulary size {} (more than 2^24 tokens)", source, n);
  }
  if (spec.types.empty()) spec.types.assign(n, TokenType::kNormal);
  if (spec.types.size() != n) {
    return Status::errorf("{}: {} tokens but {} token types", source, n, spec.types.size());
  }
  Vocab v;
  v.text = std::move(spec.tokens);
  v.type = std::move(spec.types);
  v.score.assign(n, 0.0f);
  v.bytes.resize(n);
  v.special = spec.special;

  StringIdMap raw_to_id;
  raw_to_id.reserve(n);
  std::string raw;
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    const TokenType t = v.type[i];
    if (t == TokenType::kControl || t == TokenType::kUnused) continue;  // decode to ""
    if (t == TokenType::kUserDefined || t == TokenType::kUnknown) {
      v.bytes[i] = v.text[i];
      continue;
    }
    // Normal (and byte) tokens: undo the byte-level mapping. A token outside the mapping
    // (some converters store added tokens raw) stands for its own bytes.
    if (!unicode_string_to_bytes(v.text[i], &raw)) raw = v.text[i];
    if (raw.empty()) continue;
    if (!raw_to_id.insert(raw, id)) {
      return Status::errorf("{}: token '{}' is duplicated (ids {} and {})", source, v.text[i],
                            raw_to_id.find(raw), id);
    }
    v.bytes[i] = raw;
  }
  std::array<int32_t, 256> byte_ids;
  for (int b = 0; b < 256; ++b) {
    byte_ids[b] = raw_to_id.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
  }

  PairMergeMap merges;
  merges.reserve(spec.merges.size());
  std::string raw_a, raw_b, joined;
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [a, b] = spec.merges[rank];
    if (!unicode_string_to_bytes(a, &raw_a)) raw_a = a;
    if (!unicode_string_to_bytes(b, &raw_b)) raw_b = b;
    const int32_t ia = raw_to_id.find(raw_a);
    const int32_t ib = raw_to_id.find(raw_b);
    joined.assign(raw_a).append(raw_b);
    const int32_t im = raw_to_id.find(joined);
    if (ia < 0 || ib < 0 || im < 0) {
      const std::string& missing = ia < 0 ? a : ib < 0 ? b : a + b;
      return Status::errorf("{}: merge {} '{} {}' names '{}', which is not in the vocabulary",
                            source, rank, a, b, missing);
    }
    merges.insert(ia, ib, {static_cast<int32_t>(rank), im});  // a repeat keeps the lower rank
  }

  auto splitter = RegexSplitter::compile(spec.split_regexes);
  if (!splitter) return splitter.status().with_context(source);

  STRATA_TRY(check_special_ids(v, source));
  for (const AddedToken& a : spec.added) {
    if (!v.valid_id(a.id)) {
      return Status::errorf("{}: added token '{}' has id {}, out of range (vocabulary of {})",
                            source, a.text, a.id, v.size());
    }
  }
  v.added.build(spec.added.empty() ? added_tokens_from_types(v) : std::move(spec.added));
  resolve_end_of_generation(v, &v.special);
  return std::unique_ptr<Tokenizer>(new BpeTokenizer(std::move(v), std::move(raw_to_id),
                                                     std::move(merges), byte_ids,
                                                     std::move(splitter).value(), spec));
}

}  // namespace strata
