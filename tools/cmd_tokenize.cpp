// strata tokenize: the token ids (and pieces) a model's tokenizer gives a text.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/file.h"
#include "model/model_source.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

struct TokenizeArgs {
  std::string model;
  std::string tokenizer;
  std::string text;
  bool ids_only = false;
  bool parse_special = false;
  bool no_bos = false;
};

bool starts_with_gguf_magic(const std::string& path) {
  auto f = File::open(path);  // never blocks on a FIFO
  char magic[4] = {};
  return f && f->size_bytes() >= 4 && f->read_at(0, magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// --tokenizer: tokenizer.json, a GGUF or a llama2.c tokenizer file. -m: a GGUF, a directory
// with tokenizer.json or a tokenizer.json; any other file is opened as a model (a llama2.c
// checkpoint finds its tokenizer.bin / tok<N>.bin beside it).
Result<std::unique_ptr<Tokenizer>> load_tokenizer(const TokenizeArgs& a) {
  if (!a.tokenizer.empty()) return Tokenizer::from_file(a.tokenizer);
  std::string path = a.model;
  if (path.empty()) {
    STRATA_ASSIGN_OR_RETURN(path, bundled_model_path());
  }
  std::error_code ec;
  const std::string ext = std::filesystem::path(path).extension().string();
  if (std::filesystem::is_directory(path, ec) || ext == ".json" || ext == ".zst" ||
      starts_with_gguf_magic(path) || !std::filesystem::exists(path, ec)) {
    return Tokenizer::from_file(path);
  }
  STRATA_ASSIGN_OR_RETURN(ModelSource model, open_model(path));
  return open_tokenizer(model, "");
}

// The piece as text for a terminal: valid UTF-8 as is, \n \t \r escaped, other control
// characters and bytes that are not valid UTF-8 as \xNN.
std::string printable(const std::string& bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      // Copy a whole valid multi-byte sequence, or escape one byte.
      size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
      bool ok = n != 0 && i + n <= bytes.size() && c <= 0xF4;
      for (size_t k = 1; ok && k < n; ++k) {
        ok = (static_cast<unsigned char>(bytes[i + k]) & 0xC0) == 0x80;
      }
      if (ok && n >= 3) {  // no overlongs, surrogates or code points past U+10FFFF
        const auto c1 = static_cast<unsigned char>(bytes[i + 1]);
        ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 > 0x9F) && !(c == 0xF0 && c1 < 0x90) &&
             !(c == 0xF4 && c1 > 0x8F);
      }
      if (ok) {
        out.append(bytes, i, n);
        i += n;
        continue;
      }
      out += fmt::format("\\x{:02x}", c);
    }
    ++i;
  }
  return out;
}

int tokenize_main(const TokenizeArgs& a) {
  auto tok = load_tokenizer(a);
  if (!tok) return fail(tok.status());
  const Tokenizer& t = **tok;
  const bool add_bos = t.special().add_bos && !a.no_bos;
  const std::vector<int32_t> ids = t.encode(a.text, add_bos, a.parse_special);
  std::string out;
  if (a.ids_only) {
    out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ", ";
      out += std::to_string(ids[i]);
    }
    out += "]\n";
  } else {
    int32_t prev = -1;
    for (int32_t id : ids) {
      // Control tokens decode to nothing; show their name instead.
      const std::string piece =
          t.token_type(id) == TokenType::kControl ? t.token_text(id) : t.token_bytes(id, prev);
      out += fmt::format("{}\t'{}'\n", id, printable(piece));
      prev = id;
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Command tokenize_command() {
  auto args = std::make_shared<TokenizeArgs>();
  Command c;
  c.run = [args] { return tokenize_main(*args); };
  c.setup_fn = [args](CLI::App& app) {
    CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids of a text");
    auto* m = sub->add_option("-m,--model", args->model,
                              "GGUF file, tokenizer.json, or a directory with tokenizer.json "
                              "(default: the bundled model)")
                  ->check(non_empty_path());
    auto* t = sub->add_option("--tokenizer", args->tokenizer,
                              "tokenizer.json, GGUF, or llama2.c tokenizer .bin");
    m->excludes(t);
    sub->add_flag("--ids", args->ids_only, "Print only the ids, as [1, 2, 3]");
    sub->add_flag("--special", args->parse_special,
                  "Parse special-token text such as <|begin_of_text|> into its id");
    sub->add_flag("--no-bos", args->no_bos, "Do not prepend BOS even if the model adds it");
    sub->add_option("text", args->text, "Text to tokenize")->required();
    return sub;
  };
  return c;
}

}  // namespace strata::cli
