#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace strata {

std::string StreamDecoder::push(int32_t id) {
  pending_ += tok_.token_bytes(id, prev_);
  prev_ = id;
  // Everything but an incomplete, still possibly valid, trailing sequence can go now.
  const size_t hold = utf8::incomplete_tail_len(pending_);
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace strata
