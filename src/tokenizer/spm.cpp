// SentencePiece BPE as in sentencepiece/bpe_model.cc and llama.cpp's llm_tokenizer_spm:
// split the text into characters, then repeatedly merge the adjacent pair whose
// concatenation is the highest-scoring piece (leftmost on ties). Characters that no piece
// covers become byte tokens "<0xXX>" (byte fallback) or, without byte tokens, one unknown
// token per run of unknown characters (HF's fuse_unk).
#include "tokenizer/spm.h"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "tokenizer/hash_maps.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace strata {
namespace {

// True if `piece` has a "▁" right after a character other than "▁" ("a▁b"): then merges can
// cross word starts and the text cannot be cut there.
bool joins_across_space(std::string_view piece) {
  for (size_t i = 1; i + kSpaceMark.size() <= piece.size(); ++i) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) != 0) continue;
    if (i < kSpaceMark.size() ||
        piece.compare(i - kSpaceMark.size(), kSpaceMark.size(), kSpaceMark) != 0) {
      return true;
    }
  }
  return false;
}

class SpmTokenizer final : public Tokenizer {
 public:
  SpmTokenizer(Vocab vocab, StringIdMap piece_to_id, std::array<int32_t, 256> byte_ids,
               bool add_space_prefix)
      : vocab_(std::move(vocab)),
        piece_to_id_(std::move(piece_to_id)),
        byte_ids_(byte_ids),
        add_space_prefix_(add_space_prefix) {
    for (int32_t b : byte_ids_) has_byte_fallback_ |= b >= 0;
    split_at_words_ = true;
    for (int32_t id = 0; id < vocab_.size() && split_at_words_; ++id) {
      if (mergeable(id) && joins_across_space(vocab_.text[id])) split_at_words_ = false;
    }
  }

  std::string kind() const override { return "spm"; }
  int32_t n_vocab() const override { return vocab_.size(); }
  const SpecialTokens& special() const override { return vocab_.special; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos,
                              bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_bos && vocab_.special.bos >= 0) out.push_back(vocab_.special.bos);
    std::vector<TextFragment> frags;
    vocab_.added.split(text, parse_special, &frags);
    // As llama.cpp: the dummy prefix goes before the first text and after every token
    // matched whole, since SentencePiece saw each such text as its own sentence.
    bool after_token = true;
    for (const TextFragment& f : frags) {
      if (f.id >= 0) {
        out.push_back(f.id);
        after_token = true;
        continue;
      }
      const std::string escaped =
          escape_spaces(text.substr(f.begin, f.end - f.begin), add_space_prefix_ && after_token);
      encode_escaped(escaped, &out);
      after_token = false;
    }
    return out;
  }

  std::string token_bytes(int32_t id, int32_t prev) const override {
    if (!vocab_.valid_id(id)) return {};
    return std::string(add_space_prefix_ ? without_dummy_prefix(vocab_, id, prev)
                                         : std::string_view(vocab_.bytes[id]));
  }

  std::string token_text(int32_t id) const override {
    return vocab_.valid_id(id) ? vocab_.text[id] : std::string();
  }
  TokenType token_type(int32_t id) const override {
    return vocab_.valid_id(id) ? vocab_.type[id] : TokenType::kUndefined;
  }

 private:
  struct Symbol {
    uint32_t begin = 0, len = 0;  // bytes of the escaped text; len 0 once merged away
    int32_t prev = -1, next = -1;
  };
  struct Bigram {
    float score;
    int32_t left, right;
    uint32_t len;                            // bytes of the merged piece, to detect stale entries
    bool operator<(const Bigram& o) const {  // heap top: highest score, then leftmost
      return score < o.score || (score == o.score && left > o.left);
    }
  };

  bool mergeable(int32_t id) const {
    const TokenType t = vocab_.type[id];
    return t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUnused ||
           t == TokenType::kUndefined;
  }

  using RevMerge =
      std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>>;

  // Reused across the chunks of one encode() call.
  struct Scratch {
    std::vector<Symbol> syms;
    std::vector<Bigram> queue;  // a max-heap
    RevMerge rev_merge;
    bool last_unk = false;
  };

  void encode_escaped(std::string_view text, std::vector<int32_t>* out) const {
    Scratch s;
    if (!split_at_words_) {
      encode_chunk(text, &s, out);
      return;
    }
    // Cut before every "▁" that follows another character: no piece spans such a cut (checked
    // at load), so the chunks encode independently and the result is the same, while heaps
    // stay a few entries long instead of one entry per character of the whole text.
    size_t begin = 0;
    for (size_t i = kSpaceMark.size(); i + kSpaceMark.size() <= text.size(); ++i) {
      if (text[i] == kSpaceMark[0] && text.compare(i, kSpaceMark.size(), kSpaceMark) == 0 &&
          text.compare(i - kSpaceMark.size(), kSpaceMark.size(), kSpaceMark) != 0 && i > begin) {
        encode_chunk(text.substr(begin, i - begin), &s, out);
        begin = i;
      }
    }
    encode_chunk(text.substr(begin), &s, out);
  }

  void encode_chunk(std::string_view text, Scratch* s, std::vector<int32_t>* out) const {
    std::vector<Symbol>& syms = s->syms;
    syms.clear();
    for (size_t i = 0; i < text.size();) {
      size_t n = utf8::valid_sequence_len(text, i);
      if (n == 0) n = 1;  // an invalid byte is a character of its own (byte fallback)
      Symbol sym;
      sym.begin = static_cast<uint32_t>(i);
      sym.len = static_cast<uint32_t>(n);
      sym.prev = static_cast<int32_t>(syms.size()) - 1;
      i += n;
      sym.next = i < text.size() ? static_cast<int32_t>(syms.size()) + 1 : -1;
      syms.push_back(sym);
    }
    if (syms.empty()) return;

    std::vector<Bigram>& queue = s->queue;
    queue.clear();
    // Merged pieces of type "unused" must be split back (sentencepiece's rev_merge).
    RevMerge& rev_merge = s->rev_merge;
    rev_merge.clear();
    auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const std::string_view piece =
          text.substr(syms[left].begin, syms[left].len + syms[right].len);
      const int32_t id = piece_to_id_.find(piece);
      if (id < 0 || !mergeable(id)) return;
      queue.push_back({vocab_.score[id], left, right, static_cast<uint32_t>(piece.size())});
      std::push_heap(queue.begin(), queue.end());
      if (vocab_.type[id] == TokenType::kUnused) {
        rev_merge[piece] = {text.substr(syms[left].begin, syms[left].len),
                            text.substr(syms[right].begin, syms[right].len)};
      }
    };
    for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
      std::pop_heap(queue.begin(), queue.end());
      const Bigram b = queue.back();
      queue.pop_back();
      Symbol& l = syms[b.left];
      Symbol& r = syms[b.right];
      if (l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != b.right) continue;
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }

    for (int32_t i = 0; i != -1; i = syms[i].next) {
      resegment(text.substr(syms[i].begin, syms[i].len), rev_merge, out, &s->last_unk);
    }
  }

  void resegment(std::string_view piece, const RevMerge& rev_merge, std::vector<int32_t>* out,
                 bool* last_unk) const {
    const int32_t id = piece_to_id_.find(piece);
    if (id >= 0 && vocab_.type[id] != TokenType::kUnused) {
      out->push_back(id);
      *last_unk = false;
      return;
    }
    if (id >= 0) {
      auto it = rev_merge.find(piece);
      if (it != rev_merge.end()) {
        resegment(it->second.first, rev_merge, out, last_unk);
        resegment(it->second.second, rev_merge, out, last_unk);
        return;
      }
    }
    if (has_byte_fallback_) {
      for (char c : piece) {
        const int32_t b = byte_ids_[static_cast<uint8_t>(c)];
        if (b >= 0) {
          out->push_back(b);
          *last_unk = false;
        } else {
          push_unk(out, last_unk);
        }
      }
      return;
    }
    push_unk(out, last_unk);
  }

  void push_unk(std::vector<int32_t>* out, bool* last_unk) const {
    if (vocab_.special.unk < 0 || *last_unk) return;
    out->push_back(vocab_.special.unk);
    *last_unk = true;
  }

  Vocab vocab_;
  StringIdMap piece_to_id_;            // normal, user-defined and unused pieces
  std::array<int32_t, 256> byte_ids_;  // byte -> "<0xXX>" token, -1 if absent
  bool add_space_prefix_ = true;
  bool has_byte_fallback_ = false;
  bool split_at_words_ = false;  // no piece holds "▁" after another character
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_spm_tokenizer(SpmSpec spec, const std::string& source) {
  const size_t n = spec.tokens.size();
  if (n == 0) return Status::errorf("{}: the vocabulary is empty", source);
  if (n > (1u << 24)) {
    return Status::errorf("{}: absurd vocabulary size {} (more than 2^24 tokens)", source, n);
  }
  if (spec.scores.empty()) spec.scores.assign(n, 0.0f);
  if (spec.types.empty()) spec.types.assign(n, TokenType::kNormal);
  if (spec.scores.size() != n || spec.types.size() != n) {
    return Status::errorf("{}: {} tokens but {} scores and {} token types", source, n,
                          spec.scores.size(), spec.types.size());
  }

  Vocab v;
  v.text = std::move(spec.tokens);
  v.score = std::move(spec.scores);
  v.type = std::move(spec.types);
  v.special = spec.special;
  v.bytes.resize(n);

  StringIdMap piece_to_id;
  piece_to_id.reserve(n);
  std::array<int32_t, 256> byte_ids;
  byte_ids.fill(-1);
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    const std::string& text = v.text[i];
    switch (v.type[i]) {
      case TokenType::kByte: {
        const int b = byte_token_value(text);
        if (b < 0) {
          return Status::errorf("{}: token {} is marked as a byte token but is '{}', not <0xXX>",
                                source, id, text);
        }
        if (byte_ids[b] >= 0) {
          return Status::errorf("{}: byte token '{}' is duplicated (ids {} and {})", source, text,
                                byte_ids[b], id);
        }
        byte_ids[b] = id;
        v.bytes[i] = std::string(1, static_cast<char>(b));
        break;
      }
      case TokenType::kControl:
        break;  // decodes to nothing
      case TokenType::kUnknown:
        v.bytes[i] = text;
        break;
      case TokenType::kUnused:
        piece_to_id.insert(text, id);
        break;
      default:  // normal, user-defined, undefined
        if (!piece_to_id.insert(text, id)) {
          return Status::errorf("{}: token '{}' is duplicated (ids {} and {})", source, text,
                                piece_to_id.find(text), id);
        }
        v.bytes[i] = unescape_space_marks(text);
        break;
    }
  }
  if (v.special.unk < 0) {
    for (size_t i = 0; i < n; ++i) {
      if (v.type[i] == TokenType::kUnknown) {
        v.special.unk = static_cast<int32_t>(i);
        break;
      }
    }
  }
  STRATA_TRY(check_special_ids(v, source));
  v.added.build(added_tokens_from_types(v));
  resolve_end_of_generation(v, &v.special);
  return std::unique_ptr<Tokenizer>(
      new SpmTokenizer(std::move(v), std::move(piece_to_id), byte_ids, spec.add_space_prefix));
}

}  // namespace strata
