// BPE as in Hugging Face tokenizers (models/bpe: merge_word, then word.rs merge_all): each
// pre-token starts as one symbol per byte (byte-level) or per character (SentencePiece
// style); the adjacent pair with the lowest merge rank is merged (leftmost on ties) until no
// pair has a merge. Symbols and merges are token ids, so a step is one hash lookup of an id
// pair. Byte-level vocabularies are keyed by raw bytes, so the input is never converted to
// the printable byte-level form; SentencePiece-style ones by their pieces ("▁the").
#include "tokenizer/bpe.h"

#include <algorithm>
#include <array>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/hash_maps.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/utf8.h"

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
  std::string escaped;  // SentencePiece style: the segment with "▁" for spaces
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
        nfc_(spec.nfc),
        sentencepiece_(spec.input == BpeSpec::Input::kSentencePiece),
        prepend_(spec.prepend),
        split_at_spaces_(spec.split_at_spaces),
        byte_fallback_(spec.byte_fallback),
        fuse_unk_(spec.fuse_unk) {}

  std::string kind() const override { return sentencepiece_ ? "spm" : "bpe"; }
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
        encode_text(text.substr(f.begin, f.end - f.begin), f.begin == 0, &s, &out);
      }
    }
    return out;
  }

  std::string token_bytes(int32_t id, int32_t prev) const override {
    if (!vocab_.valid_id(id)) return {};
    if (sentencepiece_ && prepend_ != BpeSpec::Prepend::kNone) {
      return std::string(without_dummy_prefix(vocab_, id, prev));
    }
    return vocab_.bytes[id];
  }
  std::string token_text(int32_t id) const override {
    return vocab_.valid_id(id) ? vocab_.text[id] : std::string();
  }
  TokenType token_type(int32_t id) const override {
    return vocab_.valid_id(id) ? vocab_.type[id] : TokenType::kUndefined;
  }

 private:
  // `at_start`: the segment begins the input (no added token before it).
  void encode_text(std::string_view text, bool at_start, BpeScratch* s,
                   std::vector<int32_t>* out) const {
    if (nfc_ && !nfc_quick_check(text)) {
      s->normalized = nfc_normalize(text);
      text = s->normalized;
    }
    if (sentencepiece_) {
      encode_sentencepiece(text, at_start, s, out);
      return;
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

  // Normalizes a segment (spaces to "▁", the dummy prefix), splits it into words when the
  // Metaspace pre-tokenizer says so, and encodes each word.
  void encode_sentencepiece(std::string_view text, bool at_start, BpeScratch* s,
                            std::vector<int32_t>* out) const {
    if (text.empty()) return;  // HF's Prepend leaves an empty text empty
    const bool starts_with_space = text[0] == ' ' || text.substr(0, 3) == kSpaceMark;
    bool prepend = false;
    switch (prepend_) {
      case BpeSpec::Prepend::kNone: break;
      case BpeSpec::Prepend::kEvery: prepend = true; break;
      case BpeSpec::Prepend::kIfNoSpace: prepend = !starts_with_space; break;
      case BpeSpec::Prepend::kFirstIfNoSpace: prepend = at_start && !starts_with_space; break;
    }
    s->escaped = escape_spaces(text, prepend);
    const std::string_view escaped = s->escaped;
    if (!split_at_spaces_) {
      encode_sp_word(escaped, s, out);
      return;
    }
    size_t begin = 0;  // each "▁" starts a word (HF: split, MergedWithNext)
    for (size_t i = 1; i + kSpaceMark.size() <= escaped.size(); ++i) {
      if (escaped.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
        encode_sp_word(escaped.substr(begin, i - begin), s, out);
        begin = i;
        i += kSpaceMark.size() - 1;
      }
    }
    encode_sp_word(escaped.substr(begin), s, out);
  }

  // One symbol per character; a character with no token becomes its byte tokens (byte
  // fallback) or the unknown token.
  void encode_sp_word(std::string_view word, BpeScratch* s, std::vector<int32_t>* out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
      if (int32_t id = raw_to_id_.find(word); id >= 0) {
        out->push_back(id);
        return;
      }
    }
    auto& syms = s->syms;
    syms.clear();
    auto add = [&syms](int32_t id) {
      const int32_t i = static_cast<int32_t>(syms.size());
      if (i > 0) syms.back().next = i;
      syms.push_back({id, i - 1, -1});
    };
    const int32_t unk = vocab_.special.unk;
    bool pending_unk = false;  // a run of unknown characters not added yet (fuse_unk)
    for (size_t i = 0; i < word.size();) {
      size_t n = utf8::valid_sequence_len(word, i);
      if (n == 0) n = 1;  // an invalid byte is a character of its own
      const std::string_view ch = word.substr(i, n);
      i += n;
      if (const int32_t id = raw_to_id_.find(ch); id >= 0) {
        if (pending_unk) add(unk);
        pending_unk = false;
        add(id);
        continue;
      }
      if (byte_fallback_) {
        bool all = true;
        for (char c : ch) all &= byte_ids_[static_cast<uint8_t>(c)] >= 0;
        if (all) {
          for (char c : ch) add(byte_ids_[static_cast<uint8_t>(c)]);
          continue;
        }
      }
      if (unk < 0) continue;  // no unknown token: HF drops the character
      if (pending_unk && !fuse_unk_) add(unk);
      pending_unk = true;
    }
    if (pending_unk) add(unk);
    if (!syms.empty()) merge_and_emit(s, out);
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
    auto& syms = s->syms;
    const int32_t n = static_cast<int32_t>(piece.size());
    syms.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      syms[i] = BpeScratch::Symbol{byte_ids_[static_cast<uint8_t>(piece[i])], i - 1,
                                   i + 1 < n ? i + 1 : -1};
    }
    merge_and_emit(s, out);
  }

  // Merges s->syms (a non-empty linked list from index 0) by rank and appends the ids.
  void merge_and_emit(BpeScratch* s, std::vector<int32_t>* out) const {
    using Symbol = BpeScratch::Symbol;
    using Candidate = BpeScratch::Candidate;
    auto& syms = s->syms;
    auto& heap = s->heap;
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
    for (int32_t i = 0; i >= 0 && syms[i].next >= 0; i = syms[i].next) consider(i, syms[i].next);
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
  bool sentencepiece_;
  BpeSpec::Prepend prepend_;
  bool split_at_spaces_, byte_fallback_, fuse_unk_;
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

  const bool sentencepiece = spec.input == BpeSpec::Input::kSentencePiece;
  // The key a token is found by: its raw bytes (byte-level) or its piece (SentencePiece).
  // A byte-level token outside the mapping (some converters store added tokens raw) stands
  // for its own bytes.
  auto key_of = [sentencepiece](const std::string& text, std::string* key) {
    if (sentencepiece || !unicode_string_to_bytes(text, key)) *key = text;
  };
  StringIdMap raw_to_id;
  raw_to_id.reserve(n);
  std::array<int32_t, 256> byte_ids;
  byte_ids.fill(-1);
  std::string raw;
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    TokenType& t = v.type[i];
    if (t == TokenType::kControl || t == TokenType::kUnused) continue;  // decode to ""
    if (t == TokenType::kUserDefined || t == TokenType::kUnknown) {
      v.bytes[i] = v.text[i];
      continue;
    }
    key_of(v.text[i], &raw);
    if (raw.empty()) continue;
    if (!raw_to_id.insert(raw, id)) {
      return Status::errorf("{}: token '{}' is duplicated (ids {} and {})", source, v.text[i],
                            raw_to_id.find(raw), id);
    }
    if (!sentencepiece) {
      v.bytes[i] = raw;
      if (raw.size() == 1) byte_ids[static_cast<uint8_t>(raw[0])] = id;
    } else if (const int b = byte_token_value(raw); b >= 0) {
      t = TokenType::kByte;  // "<0x0A>": byte fallback
      v.bytes[i] = std::string(1, static_cast<char>(b));
      if (byte_ids[b] < 0) byte_ids[b] = id;
    } else {
      v.bytes[i] = unescape_space_marks(raw);
    }
  }

  PairMergeMap merges;
  merges.reserve(spec.merges.size());
  std::string raw_a, raw_b, joined;
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [a, b] = spec.merges[rank];
    key_of(a, &raw_a);
    key_of(b, &raw_b);
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
