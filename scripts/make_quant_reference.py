#!/usr/bin/python3
"""Writes tests/data/quant_reference/: what the accuracy tests of the weight types compare with.

For every weight type, a small random model that `strata make-model` writes deterministically
(tiny-256 shape, the recorded seed and standard deviation) and:
  - <type>.f32: logits of every position of the prompt from the float64 forward pass over the
    exactly dequantized weights (scripts/f64_reference.py), rounded to float32 for storage
    (a relative rounding of 6e-8, far below any error compared);
  - in reference.json: llama.cpp's error against that reference on the same file (its CPU
    build, every position's logits), the bound strata's tests hold strata to.
For `strata quantize`: llama-quantize's output for Q8_0, Q4_0, Q4_K_M and Q6_K from the F32
model (tensor types, bytes, and its error: llama.cpp's engine on llama-quantize's file against
the float model's reference), and llama-quantize's tensor types for more mixes of a 16-layer
F16 model and for the bundled stories260K (whose 172-wide FFN takes the fallback types).

Needs strata built, llama.cpp built from source outside the repository, and the small program
scripts/llama_logits.cpp built against it:

  g++ -O2 -std=c++17 scripts/llama_logits.cpp -I$LLAMA/include -I$LLAMA/ggml/include \\
      -L$LLAMA/build/bin -lllama -lggml -lggml-base -o /tmp/llama_logits
  scripts/make_quant_reference.py --strata build/release/strata \\
      --llama-bin $LLAMA/build/bin --llama-logits /tmp/llama_logits --out tests/data/quant_reference
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import f64_reference  # noqa: E402

TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k",
         "q5_k", "q6_k", "iq4_nl", "iq4_xs"]
QUANTIZE_TARGETS = ["Q8_0", "Q4_0", "Q4_K_M", "Q6_K"]
MIX_TARGETS = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0",
               "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "Q5_K", "Q4_K", "Q3_K"]
PROMPT = ("Once upon a time, there was a little girl named Lily. "
          "She loved to play outside in the park with her dog.")
MODEL_ARGS = ["--shape", "tiny-256", "--seed", "1", "--std", "0.08"]
MIX_MODEL_ARGS = ["--shape", "tiny-256", "--layers", "16", "--seed", "1", "--dtype", "f16"]


def rel_rmse(x, ref):
    x = x.astype(np.float64)
    return float(np.sqrt(np.mean((x - ref) ** 2)) / np.sqrt(np.mean(ref ** 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", required=True)
    ap.add_argument("--llama-bin", required=True, help="llama.cpp's build/bin (llama-quantize, libs)")
    ap.add_argument("--llama-logits", required=True, help="scripts/llama_logits.cpp, built")
    ap.add_argument("--out", required=True)
    ap.add_argument("--llama-rev", default="", help="llama.cpp's commit, recorded (default: git)")
    a = ap.parse_args()
    env = dict(os.environ, LD_LIBRARY_PATH=a.llama_bin)
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="quantref-")

    def sh(*cmd):
        subprocess.run([str(c) for c in cmd], check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def strata_logits(model):
        out = os.path.join(tmp, "strata.f32")
        sh(a.strata, "run", "-q", "-m", model, "-p", PROMPT, "-n", "1", "--temp", "0",
           "--dump-logits", out)
        return np.fromfile(out, dtype="<f4")

    def llama_logits(model):
        out = os.path.join(tmp, "llama.f32")
        sh(a.llama_logits, model, ",".join(map(str, ids)), out)
        return np.fromfile(out, dtype="<f4")

    first = os.path.join(tmp, "t-f32.gguf")
    sh(a.strata, "make-model", *MODEL_ARGS, "--dtype", "f32", "-o", first)
    ids = json.loads(subprocess.run([a.strata, "tokenize", "-m", first, "--ids", PROMPT],
                                    check=True, capture_output=True, text=True).stdout)

    doc = {"prompt": PROMPT, "ids": ids, "make_model": MODEL_ARGS, "types": {}, "quantize": {},
           "mixes": {"make_model": MIX_MODEL_ARGS, "types": {}}}
    refs = {}
    for t in TYPES:
        model = os.path.join(tmp, f"t-{t}.gguf")
        sh(a.strata, "make-model", *MODEL_ARGS, "--dtype", t, "-o", model)
        meta, w = f64_reference.read_gguf(model)
        ref = f64_reference.forward(meta, w, ids).reshape(-1)
        refs[t] = ref
        ref.astype("<f4").tofile(os.path.join(a.out, f"{t}.f32"))
        doc["types"][t] = {
            "file_bytes": os.path.getsize(model),
            "llama_cpp_error": rel_rmse(llama_logits(model), ref),
            "strata_error_at_capture": rel_rmse(strata_logits(model), ref),
        }
        print(t, doc["types"][t])

    src = os.path.join(tmp, "t-f32.gguf")
    for q in QUANTIZE_TARGETS:
        out = os.path.join(tmp, f"l-{q}.gguf")
        sh(os.path.join(a.llama_bin, "llama-quantize"), src, out, q)
        meta, w = f64_reference.read_gguf(out)
        doc["quantize"][q] = {
            "file_bytes": os.path.getsize(out),
            "tensor_types": f64_reference.tensor_types(out),
            # llama-quantize's weights alone (float64 forward) and with llama.cpp's engine
            "quantizer_error": rel_rmse(f64_reference.forward(meta, w, ids).reshape(-1), refs["f32"]),
            "llama_cpp_error": rel_rmse(llama_logits(out), refs["f32"]),
        }
        print(q, {k: v for k, v in doc["quantize"][q].items() if k != "tensor_types"})

    mix_src = os.path.join(tmp, "mix-f16.gguf")
    sh(a.strata, "make-model", *MIX_MODEL_ARGS, "-o", mix_src)
    for q in MIX_TARGETS:
        out = os.path.join(tmp, f"mix-{q}.gguf")
        sh(os.path.join(a.llama_bin, "llama-quantize"), mix_src, out, q)
        doc["mixes"]["types"][q] = {"file_bytes": os.path.getsize(out),
                                    "tensor_types": f64_reference.tensor_types(out)}

    # A real trained model whose 172-wide FFN no block size divides: the fallbacks.
    stories = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "models",
                           "stories260K.gguf")
    doc["stories260k"] = {}
    for q in ["Q4_K_M", "Q5_K_M", "Q6_K", "Q3_K_M", "Q2_K", "IQ4_XS"]:  # (llama-quantize has no fallback for the 32-element types)
        out = os.path.join(tmp, f"stories-{q}.gguf")
        sh(os.path.join(a.llama_bin, "llama-quantize"), stories, out, q)
        doc["stories260k"][q] = {"file_bytes": os.path.getsize(out),
                                 "tensor_types": f64_reference.tensor_types(out)}

    llama_rev = subprocess.run(["git", "-C", os.path.join(a.llama_bin, "..", ".."), "rev-parse", "HEAD"],
                               capture_output=True, text=True).stdout.strip()
    doc["llama_cpp"] = a.llama_rev or llama_rev or "unknown"
    with open(os.path.join(a.out, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
