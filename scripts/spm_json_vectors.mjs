// Reference token ids for SentencePiece-style tokenizer.json variants, from an implementation
// independent of strata: @lenml/tokenizers (a port of Hugging Face tokenizers, the one that
// produced the mistral vectors llama.cpp's tests agree with). Writes tests/data's
// tokenizers/vectors/mistral-<variant>.{inp,out}. Not run by the build or the tests.
//
//   npm install @lenml/tokenizers@3.7.2
//   zstd -dc data/tokenizers/mistral/tokenizer.json.zst > /tmp/tokenizer.json
//   node scripts/spm_json_vectors.mjs /tmp/tokenizer.json data/tokenizers/mistral/tokenizer_config.json \
//        VARIANT tests/data/tokenizers/vectors/ggml-vocab-llama-spm.gguf.inp OUT_STEM
//
// VARIANT: legacy (the file as it is: Prepend + Replace normalizer), first (what transformers
// writes for legacy=false: no normalizer, Metaspace prepend_scheme "first", split false) or
// always (Metaspace prepend_scheme "always", split false). strata's tests build the same
// variants from the bundled file (tests/tokenizer/spm_json_test.cpp). Ids are without BOS;
// special-token text is matched (as tokenizers always does; strata's parse_special).
import { TokenizerLoader } from "@lenml/tokenizers";
import fs from "fs";

const [jsonPath, configPath, variant, inpPath, outStem] = process.argv.slice(2);
const tokenizerJSON = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
if (variant === "first" || variant === "always") {
  tokenizerJSON.normalizer = null;
  // add_prefix_space: tokenizers.js reads it instead of deriving it from prepend_scheme.
  tokenizerJSON.pre_tokenizer = {type: "Metaspace", replacement: "\u2581",
                                 prepend_scheme: variant, split: false, add_prefix_space: true};
} else if (variant !== "legacy") {
  throw new Error(`unknown variant ${variant}`);
}
// legacy: true keeps tokenizers.js from rewriting the pre-tokenizer itself (its LlamaTokenizer
// does that for legacy: false); the file's own pipeline is what is being tested.
const tok = TokenizerLoader.fromPreTrained({tokenizerJSON, tokenizerConfig: {...config, legacy: true}});
const texts = fs.readFileSync(inpPath, "utf8").split("\n__ggml_vocab_test__\n").slice(0, -1);
texts.push("Hello <s>.", "<s>Hello world", "Hello</s> world", " <s> x", "a<unk>b", "<s>",
           "\u2581Hi \u2581there");
fs.writeFileSync(outStem + ".inp", texts.map((t) => t + "\n__ggml_vocab_test__\n").join(""));
fs.writeFileSync(outStem + ".out",
                 texts.map((t) => tok.encode(t, {add_special_tokens: false}).join(" ")).join("\n") + "\n");
