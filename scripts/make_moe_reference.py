#!/usr/bin/python3
"""Writes tests/data/moe_reference/: what the mixture-of-experts accuracy tests compare with.

For the two small expert shapes `strata make-model` writes deterministically (tiny-mixtral: a
GGUF "llama" with 8 experts, top-2; tiny-qwen3moe: "qwen3moe" with 16 experts, top-4, qk-norm,
head_dim 64) at the recorded seed and standard deviation:
  - <shape>-<type>.f32 for the float types: logits of every position of the prompt from the
    float64 forward pass over the exactly dequantized weights (scripts/f64_reference.py: its
    own GGUF reader, dequantizers and routing, written from the architectures' definitions),
    as float32;
  - <shape>-f32.llama.f32: llama.cpp's logits on the F32 file (its defaults: F16 KV cache,
    flash attention auto; 2 threads);
  - in reference.json, for every weight type: llama.cpp's relative RMS error against the
    float64 logits and strata's when this ran. For quantized types these are information
    only: a routing decision whose top-k margin is below the quantization noise flips (the
    next expert is chosen), and one flip moves a position's logits by ~20%, so either engine
    can land far from float64 by luck (tests/engine/moe_test.cpp checks quantized experts on
    routes with wide margins instead).

And llama_quantize.json: llama-quantize's tensor types (per tensor, one per layer) and file
size for every mix of 8-layer F16 models of both shapes, for `strata quantize` to match.

Needs strata built, llama.cpp built from source outside the repository, and
scripts/llama_logits.cpp built against it (its header says how):

  scripts/make_moe_reference.py --strata build/moe/strata --llama-logits /tmp/llama_logits \\
      --llama-quantize $LLAMA/build/bin/llama-quantize --out tests/data/moe_reference
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import f64_reference  # noqa: E402

ALL_TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k",
             "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs"]
SHAPES = {
    # Every weight type on one shape; the other shape on a few.
    "tiny-qwen3moe": ALL_TYPES,
    "tiny-mixtral": ["f32", "f16", "bf16", "q8_0", "q4_k", "q6_k"],
}
STORED = ("f32", "f16", "bf16")  # logits kept as test data
PROMPT = ("Once upon a time, there was a little girl named Lily. "
          "She loved to play outside in the park with her dog.")
SEED_ARGS = ["--seed", "1", "--std", "0.08"]


def rel_rmse(x, ref):
    x = x.astype(np.float64)
    return float(np.sqrt(np.mean((x - ref) ** 2)) / np.sqrt(np.mean(ref ** 2)))


MIXES = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0",
         "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"]


def llama_quantize_mixes(strata, llama_quantize, tmp):
    """{shape: {make_model, types: {mix: {file_bytes, tensor_types}}}}; a layer tensor's types
    are one string, layer by layer."""
    res = {}
    for shape in SHAPES:
        args = ["--shape", shape, "--layers", "8", "--seed", "1", "--dtype", "f16"]
        src = os.path.join(tmp, f"{shape}-16.gguf")
        subprocess.run([strata, "make-model", *args, "-o", src], check=True, capture_output=True)
        rec = {"make_model": args, "types": {}}
        for mix in MIXES:
            out = os.path.join(tmp, f"{shape}-{mix}.gguf")
            subprocess.run([llama_quantize, src, out, mix], check=True, capture_output=True,
                           env={"LD_LIBRARY_PATH": os.path.dirname(llama_quantize)})
            j = json.loads(subprocess.run([strata, "inspect", "--json", "--all", out], check=True,
                                          capture_output=True, text=True).stdout)
            per = {}
            for t in j["tensors"]:
                m = re.match(r"blk\.(\d+)\.(.+)", t["name"])
                if m:
                    per.setdefault(m.group(2), [None] * 8)[int(m.group(1))] = t["dtype"]
                else:
                    per[t["name"]] = t["dtype"]
            rec["types"][mix] = {"file_bytes": os.path.getsize(out),
                                 "tensor_types": {k: v if isinstance(v, str) else " ".join(v)
                                                  for k, v in per.items()}}
        res[shape] = rec
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", required=True)
    ap.add_argument("--llama-logits", required=True, help="scripts/llama_logits.cpp, built")
    ap.add_argument("--out", required=True)
    ap.add_argument("--llama-quantize", required=True, help="llama.cpp's llama-quantize")
    ap.add_argument("--llama-rev", default="unknown", help="llama.cpp's commit, recorded")
    ap.add_argument("--only-mixes", action="store_true", help="write llama_quantize.json only")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="moe-ref-")
    with open(os.path.join(a.out, "llama_quantize.json"), "w") as f:
        json.dump(llama_quantize_mixes(a.strata, a.llama_quantize, tmp), f, indent=1,
                  sort_keys=True)
        f.write("\n")
    if a.only_mixes:
        return 0
    prompt = os.path.join(tmp, "prompt.txt")
    with open(prompt, "w") as f:
        f.write(PROMPT)
    ref = {"prompt": PROMPT, "llama_cpp": a.llama_rev, "seed_args": SEED_ARGS, "shapes": {}}
    for shape, types in SHAPES.items():
        rec = {"make_model": ["--shape", shape] + SEED_ARGS, "types": {}}
        for t in types:
            model = os.path.join(tmp, f"{shape}-{t}.gguf")
            subprocess.run([a.strata, "make-model", *rec["make_model"], "--dtype", t, "-o", model],
                           check=True, capture_output=True)
            ids = json.loads(subprocess.run([a.strata, "tokenize", "-m", model, "--ids", PROMPT],
                                            check=True, capture_output=True, text=True).stdout)
            ref["ids"] = ids
            meta, w = f64_reference.read_gguf(model)
            want = f64_reference.forward(meta, w, ids).reshape(-1)
            if t in STORED:
                want.astype("<f4").tofile(os.path.join(a.out, f"{shape}-{t}.f32"))
            llama_out = os.path.join(tmp, "llama.f32")
            subprocess.run([a.llama_logits, model, ",".join(map(str, ids)), llama_out],
                           check=True, capture_output=True)
            llama = np.fromfile(llama_out, dtype="<f4")
            if t == "f32":
                llama.tofile(os.path.join(a.out, f"{shape}-f32.llama.f32"))
            strata_out = os.path.join(tmp, "strata.f32")
            subprocess.run([a.strata, "run", "-m", model, "-f", prompt, "-n", "1", "--temp", "0",
                            "-q", "--kv-type", "f32", "--dump-logits", strata_out],
                           check=True, capture_output=True)
            strata = np.fromfile(strata_out, dtype="<f4")
            rec["types"][t] = {
                "file_bytes": os.path.getsize(model),
                "llama_cpp_error": rel_rmse(llama, want),
                "strata_error_at_capture": rel_rmse(strata, want),
            }
            print(shape, t, rec["types"][t], flush=True)
        ref["shapes"][shape] = rec
    with open(os.path.join(a.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
