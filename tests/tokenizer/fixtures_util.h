#pragma once
// Tokenizers shared by the tokenizer tests, each loaded once per test program (the Llama 3
// and Qwen3 tokenizer.json files are 9 and 11 MB).

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace strata::testing {

inline const std::string kData = STRATA_DATA;          // the repository's data/
inline const std::string kTestData = STRATA_TEST_DATA;  // tests/data

// Each returns nullptr and sets *error when loading failed.
const Tokenizer* llama3_json(std::string* error = nullptr);
const Tokenizer* qwen3_json(std::string* error = nullptr);
const Tokenizer* gpt2_gguf(std::string* error = nullptr);
const Tokenizer* llama_spm_gguf(std::string* error = nullptr);
const Tokenizer* stories_gguf(std::string* error = nullptr);
const Tokenizer* stories_tok512(std::string* error = nullptr);

// The bytes of a file, decompressed if it is zstd (empty if unreadable).
std::string read_all(const std::string& path);

// "[1, 2, 3]" for messages.
std::string ids_str(const std::vector<int32_t>& ids);

}  // namespace strata::testing
