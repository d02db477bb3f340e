#include "tokenizer/tokenizer_json_sax.h"

#include <fmt/format.h>

namespace strata {
namespace {

using json = nlohmann::json;

class Handler : public nlohmann::json_sax<json> {
 public:
  explicit Handler(TokenizerJsonDoc* out) : out_(out) {}
  const std::string& error() const { return error_; }

  bool null() override { return value(json(nullptr)); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) {
      out_->vocab.emplace_back(std::move(key_), v);
      return true;
    }
    return value(json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) {
      if (v > static_cast<uint64_t>(INT64_MAX)) return fail("model.vocab id out of range");
      out_->vocab.emplace_back(std::move(key_), static_cast<int64_t>(v));
      return true;
    }
    return value(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) {
      const size_t space = v.find(' ', 1);
      if (space == std::string::npos) {
        return fail(fmt::format("merges[{}] '{}' is not 'left right'", out_->merges.size(), v));
      }
      out_->merges.emplace_back(v.substr(0, space), v.substr(space + 1));
      return true;
    }
    if (mode_ == Mode::kMergePair) {
      if (pair_n_ >= 2) return bad_pair();
      (pair_n_++ == 0 ? pair_.first : pair_.second) = std::move(v);
      return true;
    }
    return value(json(std::move(v)));
  }
  bool binary(binary_t&) override { return fail("binary value"); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }

  bool start_object(std::size_t) override {
    if (mode_ != Mode::kDom) {
      return mode_ == Mode::kVocab ? fail("model.vocab entry '" + key_ + "' has no integer id")
                                   : bad_pair();
    }
    if (at_model() && key_ == "vocab") {
      mode_ = Mode::kVocab;
      out_->has_vocab = true;
      return true;
    }
    return open(json::object());
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kDom;
      return true;
    }
    stack_.pop_back();
    path_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_n_ = 0;
      return true;
    }
    if (mode_ == Mode::kVocab) return fail("model.vocab entry '" + key_ + "' has no integer id");
    if (mode_ == Mode::kMergePair) return bad_pair();
    if (at_model() && key_ == "merges") {
      mode_ = Mode::kMerges;
      out_->has_merges = true;
      return true;
    }
    return open(json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::kMergePair) {
      if (pair_n_ != 2) return bad_pair();
      out_->merges.push_back(std::move(pair_));
      mode_ = Mode::kMerges;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kDom;
      return true;
    }
    stack_.pop_back();
    path_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    if (error_.empty()) error_ = fmt::format("not valid JSON at byte {}: {}", position, ex.what());
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };

  // Directly inside the top-level "model" object.
  bool at_model() const {
    return path_.size() == 2 && path_[1] == "model" && stack_.back()->is_object();
  }

  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  bool bad_pair() {
    return fail(
        fmt::format("merges[{}] is neither 'left right' nor [left, right]", out_->merges.size()));
  }

  // Places `v` in the current container (as nlohmann's json_sax_dom_parser does).
  json* place(json&& v) {
    if (stack_.empty()) {
      out_->doc = std::move(v);
      return &out_->doc;
    }
    json* top = stack_.back();
    if (top->is_array()) {
      top->push_back(std::move(v));
      return &top->back();
    }
    json& slot = (*top)[key_];
    slot = std::move(v);
    return &slot;
  }
  bool value(json&& v) {
    if (mode_ == Mode::kVocab) return fail("model.vocab entry '" + key_ + "' has no integer id");
    if (mode_ != Mode::kDom) return bad_pair();
    place(std::move(v));
    return true;
  }
  bool open(json&& container) {
    const bool in_array = !stack_.empty() && stack_.back()->is_array();
    path_.push_back(stack_.empty() || in_array ? std::string() : key_);
    stack_.push_back(place(std::move(container)));
    return true;
  }

  TokenizerJsonDoc* out_;
  Mode mode_ = Mode::kDom;
  std::vector<json*> stack_;       // open containers of the DOM
  std::vector<std::string> path_;  // key of each open container ("" in arrays and at root)
  std::string key_;
  std::pair<std::string, std::string> pair_;
  int pair_n_ = 0;
  std::string error_;
};

}  // namespace

Result<TokenizerJsonDoc> read_tokenizer_json(const std::string& path, std::string_view text) {
  TokenizerJsonDoc out;
  Handler h(&out);
  bool ok = false;
  try {
    ok = json::sax_parse(text, &h);
  } catch (const json::exception& e) {
    return Status::errorf("{}: not valid JSON: {}", path, e.what());
  }
  if (!ok) {
    return Status::errorf("{}: {}", path, h.error().empty() ? "not valid JSON" : h.error());
  }
  return out;
}

}  // namespace strata
