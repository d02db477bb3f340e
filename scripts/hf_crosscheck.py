#!/usr/bin/env python3
"""Cross-checks strata's forward pass against Hugging Face transformers.

For each shape, `strata make-model` writes a random-weight model (a Hugging Face directory and,
with the same seed, a GGUF file: the same weights); transformers loads the directory and
computes the logits of a prompt in float32 with eager attention; strata computes them from
both files (`strata run --dump-logits`). The script reports the largest differences and writes
reference fixtures (the ids, and the logits at a fixed sample of vocabulary ids for every
position) that strata's test suite compares against without transformers.

Needs python3 with torch, transformers and tokenizers (the GPU machine's image has them; the
development machine does not). Runs on the CPU: the GPU is not needed for this check.

  scripts/hf_crosscheck.py --strata build/x/strata --work /tmp/hf --out OUT

make-model finds the tokenizers in strata's data folder (beside the binary, or $STRATA_DATA_DIR).
"""
import argparse
import json
import os
import subprocess
import sys
import time

PROMPT = ("Once upon a time, in 1987, a curious fox named Zoë found 42 shiny stones "
          "near the old mill; she counted them twice — \"still forty-two!\" — and smiled.")

# shape, layers, and whether to also check the GGUF file of the same weights.
SHAPES = [
    ("llama-3.2-1b", 2, True),   # tied head, llama3 RoPE scaling (x32), GQA 32/8
    ("qwen2.5-0.5b", 2, True),   # q/k/v bias, tied head, GQA 14/2
    ("qwen3-0.6b", 2, True),     # q/k RMSNorm, head_dim 128 != 1024/16
    ("mistral-7b", 2, True),     # untied head, sliding window (4096: not reached here)
]
SEED = 1
N_SAMPLE = 64  # vocabulary ids sampled per position for the fixtures


def run(cmd, **kw):
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p.stdout, time.time() - t


def strata_ids(strata, model, tokenizer_args):
    source = tokenizer_args if tokenizer_args else ["-m", model]
    out, _ = run([strata, "tokenize", *source, "--ids", PROMPT])
    return json.loads(out.strip())


def strata_logits(strata, model, tokenizer_args, n_vocab, path):
    import numpy as np
    run([strata, "run", "-m", model, *tokenizer_args, "-p", PROMPT, "-n", "1", "--temp", "0",
         "-t", "8", "-q", "--dump-logits", path])
    a = np.fromfile(path, dtype=np.float32)
    assert a.size % n_vocab == 0, (a.size, n_vocab)
    return a.reshape(-1, n_vocab)


def hf_logits(model_dir, ids):
    import torch
    from transformers import AutoModelForCausalLM
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                     attn_implementation="eager")
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                     attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor([ids], dtype=torch.long))
    return out.logits[0].float().numpy(), type(model).__name__


def compare(ref, got):
    import numpy as np
    n = min(ref.shape[0], got.shape[0])
    d = np.abs(ref[:n] - got[:n])
    scale = float(np.abs(ref[:n]).max())
    return {
        "positions": n,
        "max_abs_diff": float(d.max()),
        "max_abs_logit": scale,
        "rel_diff": float(d.max() / max(scale, 1e-30)),
        "argmax_agree": int((ref[:n].argmax(-1) == got[:n].argmax(-1)).sum()),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default=",".join(s[0] for s in SHAPES))
    args = ap.parse_args()
    import numpy as np
    import tokenizers
    import torch
    import transformers
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(8)
    wanted = args.shapes.split(",")
    shapes = [s for s in SHAPES if s[0] in wanted]

    # Write every model first, in parallel (make-model is one thread per file).
    jobs = []
    for name, layers, gguf in shapes:
        base = os.path.join(args.work, f"{name}-L{layers}")
        common = ["make-model", "--shape", name, "--layers", str(layers), "--dtype", "bf16",
                  "--seed", str(SEED)]
        jobs.append(subprocess.Popen([args.strata, *common, "--format", "safetensors",
                                      "--out", base + "-hf"], stderr=subprocess.PIPE, text=True))
        if gguf:
            jobs.append(subprocess.Popen([args.strata, *common, "--format", "gguf",
                                          "--out", base + ".gguf"], stderr=subprocess.PIPE,
                                         text=True))
    t0 = time.time()
    for j in jobs:
        _, err = j.communicate()
        if j.returncode != 0:
            print(f"make-model failed: {' '.join(j.args)}\n{err[-2000:]}", file=sys.stderr)
            return 1
    print(f"wrote {len(jobs)} models in {time.time() - t0:.1f} s", flush=True)

    results = {"transformers": transformers.__version__, "torch": torch.__version__,
               "tokenizers": tokenizers.__version__, "prompt": PROMPT, "seed": SEED,
               "models": []}
    ok = True
    for name, layers, gguf in shapes:
        base = os.path.join(args.work, f"{name}-L{layers}")
        hf_dir = base + "-hf"
        tok_args = []
        if not os.path.exists(os.path.join(hf_dir, "tokenizer.json")):
            tok_args = ["--tokenizer", os.path.join(hf_dir, "tokenizer.gguf")]
        cfg = json.load(open(os.path.join(hf_dir, "config.json")))
        n_vocab = cfg["vocab_size"]
        entry = {"shape": name, "layers": layers, "dtype": "bf16", "seed": SEED}
        try:
            ids = strata_ids(args.strata, hf_dir, tok_args)
            entry["ids"] = ids
            if not tok_args:
                hf_tok = tokenizers.Tokenizer.from_file(os.path.join(hf_dir, "tokenizer.json"))
                hf_ids = hf_tok.encode(PROMPT, add_special_tokens=True).ids
                entry["hf_tokenizer_ids_equal"] = hf_ids == ids
                # strata adds BOS where llama.cpp does (Llama 3), tokenizers' post-processor
                # for this tokenizer.json does not: compare the rest too.
                entry["hf_tokenizer_ids_equal_after_bos"] = hf_ids == ids[1:]
                if hf_ids != ids:
                    entry["hf_tokenizer_ids"] = hf_ids
            ref, cls = hf_logits(hf_dir, ids)
            entry["hf_class"] = cls
            got = strata_logits(args.strata, hf_dir, tok_args, n_vocab, base + "-hf.logits")
            entry["strata_hf_dir"] = compare(ref, got)
            if gguf:
                got_g = strata_logits(args.strata, base + ".gguf", tok_args, n_vocab,
                                      base + "-gguf.logits")
                entry["strata_gguf"] = compare(ref, got_g)
            # Fixtures: the logits at N_SAMPLE fixed vocabulary ids, and the argmax, per position.
            rng = np.random.default_rng(12345)
            sample = sorted(int(i) for i in rng.choice(n_vocab, N_SAMPLE, replace=False))
            entry["reference"] = {
                "vocab_ids": sample,
                "logits": [[float(ref[p, i]) for i in sample] for p in range(ref.shape[0])],
                "argmax": [int(a) for a in ref.argmax(-1)],
                "max_logit": [float(m) for m in ref.max(-1)],
            }
            for key in ("strata_hf_dir", "strata_gguf"):
                if key in entry:
                    c = entry[key]
                    good = (c["positions"] == len(ids) and c["rel_diff"] < 1e-3 and
                            c["argmax_agree"] == c["positions"])
                    c["pass"] = good
                    ok &= good
        except Exception as e:  # report and go on with the next shape
            entry["error"] = str(e)
            ok = False
        results["models"].append(entry)
        summary = {k: v for k, v in entry.items() if k not in ("ids", "reference")}
        print(json.dumps(summary), flush=True)

    with open(os.path.join(args.out, "hf_crosscheck.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("PASS" if ok else "FAIL", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
