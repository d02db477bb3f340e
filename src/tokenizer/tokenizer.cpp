#include "tokenizer/tokenizer.h"

namespace strata {

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    out += token_bytes(id, prev);
    prev = id;
  }
  return out;
}

}  // namespace strata
