#include "tokenizer/vocab.h"

#include <algorithm>

namespace strata {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

void AddedTokenMatcher::build(std::vector<AddedToken> tokens) {
  tokens.erase(std::remove_if(tokens.begin(), tokens.end(),
                              [](const AddedToken& t) { return t.text.empty(); }),
               tokens.end());
  // Longest first so the first hit at a position is the longest; ties by id for determinism.
  std::stable_sort(tokens.begin(), tokens.end(), [](const AddedToken& a, const AddedToken& b) {
    if (a.text.size() != b.text.size()) return a.text.size() > b.text.size();
    return a.id < b.id;
  });
  tokens_ = std::move(tokens);
  for (auto& v : by_first_) v.clear();
  any_non_special_ = false;
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    by_first_[static_cast<uint8_t>(tokens_[i].text[0])].push_back(i);
    any_non_special_ |= !tokens_[i].special;
  }
}

void AddedTokenMatcher::split(std::string_view text, bool parse_special,
                              std::vector<TextFragment>* out) const {
  out->clear();
  size_t text_begin = 0;  // start of the pending text fragment
  if (tokens_.empty() || (!parse_special && !any_non_special_)) {
    if (!text.empty()) out->push_back({-1, 0, text.size()});
    return;
  }
  size_t i = 0;
  while (i < text.size()) {
    const auto& cands = by_first_[static_cast<uint8_t>(text[i])];
    const AddedToken* hit = nullptr;
    for (uint32_t k : cands) {
      const AddedToken& t = tokens_[k];
      if (t.special && !parse_special) continue;
      if (t.text.size() <= text.size() - i && text.compare(i, t.text.size(), t.text) == 0) {
        hit = &t;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t text_end = i;
    if (hit->lstrip) {
      while (text_end > text_begin && is_ascii_space(text[text_end - 1])) --text_end;
    }
    if (text_end > text_begin) out->push_back({-1, text_begin, text_end});
    out->push_back({hit->id, i, i + hit->text.size()});
    i += hit->text.size();
    if (hit->rstrip) {
      while (i < text.size() && is_ascii_space(text[i])) ++i;
    }
    text_begin = i;
  }
  if (text_begin < text.size()) out->push_back({-1, text_begin, text.size()});
}

void resolve_end_of_generation(const Vocab& vocab, SpecialTokens* special) {
  // Same list and order as llama.cpp's llama_vocab::impl::load (EOT, then EOG search).
  static const char* const kEotTexts[] = {"<|eot_id|>",    "<|im_end|>",           "<|end|>",
                                          "<end_of_turn>", "<|endoftext|>",        "<EOT>",
                                          "_<EOT>",        "<｜end▁of▁sentence｜>"};
  static const char* const kEogTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",   "<|endoftext|>",
      "<|eom_id|>", "<EOT>",      "_<EOT>",  "<|end_of_text|>", "<｜end▁of▁sentence｜>"};
  // Only the (few) control and user-defined tokens are candidates: collect them once.
  std::vector<int32_t> marked;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType t = vocab.type[id];
    if (t == TokenType::kControl || t == TokenType::kUserDefined) marked.push_back(id);
  }
  auto find = [&](std::string_view text) -> int32_t {
    for (int32_t id : marked) {
      if (vocab.text[id] == text) return id;
    }
    return -1;
  };
  if (special->eot < 0) {
    for (const char* t : kEotTexts) {
      if (int32_t id = find(t); id >= 0) {
        special->eot = id;
        break;
      }
    }
  }
  std::vector<int32_t> eog;
  auto add = [&](int32_t id) {
    if (id >= 0 && std::find(eog.begin(), eog.end(), id) == eog.end()) eog.push_back(id);
  };
  add(special->eos);
  add(special->eot);
  for (const char* t : kEogTexts) add(find(t));
  for (int32_t id : special->eog) add(id);
  special->eog = std::move(eog);
}

std::vector<AddedToken> added_tokens_from_types(const Vocab& vocab) {
  std::vector<AddedToken> out;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType t = vocab.type[id];
    if (t != TokenType::kControl && t != TokenType::kUserDefined && t != TokenType::kUnknown) {
      continue;
    }
    AddedToken a;
    a.text = vocab.text[id];
    a.id = id;
    a.special = t != TokenType::kUserDefined;
    out.push_back(std::move(a));
  }
  return out;
}

std::string escape_spaces(std::string_view text, bool space_prefix) {
  std::string out;
  out.reserve(text.size() + text.size() / 4 + 3);
  if (space_prefix) out += kSpaceMark;
  for (char c : text) {
    if (c == ' ') {
      out += kSpaceMark;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string unescape_space_marks(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t i = 0;
  while (i < piece.size()) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out.push_back(' ');
      i += kSpaceMark.size();
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

std::string_view without_dummy_prefix(const Vocab& vocab, int32_t id, int32_t prev) {
  const std::string& b = vocab.bytes[id];
  const TokenType t = vocab.type[id];
  if (!b.empty() && b[0] == ' ' && (t == TokenType::kNormal || t == TokenType::kUserDefined) &&
      (prev < 0 || (vocab.valid_id(prev) && vocab.type[prev] == TokenType::kControl))) {
    return std::string_view(b).substr(1);
  }
  return b;
}

int byte_token_value(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int v = 0;
  for (size_t k = 3; k < 5; ++k) {
    const char c = text[k];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

Status check_special_ids(const Vocab& vocab, const std::string& source) {
  const SpecialTokens& s = vocab.special;
  const std::pair<const char*, int32_t> ids[] = {
      {"bos", s.bos}, {"eos", s.eos}, {"eot", s.eot}, {"unk", s.unk}, {"pad", s.pad}};
  for (const auto& [name, id] : ids) {
    if (id >= vocab.size()) {
      return Status::errorf("{}: {} token id {} is out of range (vocabulary of {} tokens)", source,
                            name, id, vocab.size());
    }
  }
  return Status::ok();
}

}  // namespace strata
