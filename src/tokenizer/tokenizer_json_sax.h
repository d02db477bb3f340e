#pragma once
// Internal: reads a tokenizer.json with nlohmann's SAX interface. model.vocab (100k+ keys)
// and model.merges (100k+ entries) go straight into flat vectors; everything else becomes
// an ordinary nlohmann::json document. Building them as a DOM first took ~2x longer (about
// 0.3 s more for Llama 3 on the 2-core VM), mostly page faults on node allocations.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata {

struct TokenizerJsonDoc {
  nlohmann::json doc;  // the file without model.vocab and model.merges
  bool has_vocab = false;
  std::vector<std::pair<std::string, int64_t>> vocab;  // in file order
  bool has_merges = false;
  std::vector<std::pair<std::string, std::string>> merges;  // by rank
};

// An error naming `path` and the byte offset for invalid JSON, or for a vocab entry without
// an integer id, or a merge that is neither "left right" nor [left, right].
Result<TokenizerJsonDoc> read_tokenizer_json(const std::string& path, std::string_view text);

class Tokenizer;
// The tokenizer of a tokenizer.json held in memory, with `config` the parsed
// tokenizer_config.json (null when there is none); `name` is used in errors. What
// Tokenizer::from_tokenizer_json does after reading the files (and the fuzz target's entry).
Result<std::unique_ptr<Tokenizer>> tokenizer_from_json_text(std::string_view text,
                                                            const nlohmann::json& config,
                                                            const std::string& name);

}  // namespace strata
