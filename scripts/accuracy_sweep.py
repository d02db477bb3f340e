#!/usr/bin/python3
"""strata against llama.cpp on many small random models: each engine's error against the float64
forward pass (scripts/f64_reference.py), per weight type, seed and weight scale.

tests/data/quant_reference/ holds one model per type (seed 1, std 0.08) and the test holds
strata to llama.cpp's error on it. One model is one sample: on these random models the logits'
error is the activations' rounding noise, amplified, and a different seed or scale draws other
noise. This sweep shows the distribution of the ratio strata / llama.cpp, which is what a model
nobody has seen will draw from. Not run by the build or the tests.

Needs strata built, llama.cpp built from source outside the repository, scripts/llama_logits.cpp
built against it (see scripts/make_quant_reference.py) and Debian's python3-numpy:

  /usr/bin/python3 scripts/accuracy_sweep.py --strata build/release/strata \\
      --llama-bin $LLAMA/build/bin --llama-logits /tmp/llama_logits \\
      --types q8_0,q4_0,iq4_nl --seeds 2,3,4 --stds 0.04,0.08,0.15
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
from make_quant_reference import PROMPT, rel_rmse  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", required=True)
    ap.add_argument("--llama-bin", required=True, help="llama.cpp's build/bin (its libraries)")
    ap.add_argument("--llama-logits", required=True, help="scripts/llama_logits.cpp, built")
    ap.add_argument("--types", default="q8_0,q4_0,q4_1,q5_0,q5_1,iq4_nl,q2_k,q3_k,q4_k,q5_k,q6_k,"
                    "iq4_xs,f16,bf16")
    ap.add_argument("--seeds", default="2,3,4")
    ap.add_argument("--stds", default="0.04,0.08,0.15")
    ap.add_argument("--shape", default="tiny-256")
    a = ap.parse_args()
    env = dict(os.environ, LD_LIBRARY_PATH=a.llama_bin)
    tmp = tempfile.mkdtemp(prefix="accuracy-sweep-")
    model = os.path.join(tmp, "model.gguf")
    mine, theirs = os.path.join(tmp, "strata.f32"), os.path.join(tmp, "llama.f32")

    def sh(*cmd):
        subprocess.run([str(c) for c in cmd], check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    ratios = {}
    ids = None
    for seed in a.seeds.split(","):
        for std in a.stds.split(","):
            for t in a.types.split(","):
                sh(a.strata, "make-model", "--shape", a.shape, "--seed", seed, "--std", std,
                   "--dtype", t, "-o", model)
                if ids is None:
                    ids = json.loads(subprocess.run(
                        [a.strata, "tokenize", "-m", model, "--ids", PROMPT], check=True,
                        capture_output=True, text=True, env=env).stdout)
                meta, w = f64_reference.read_gguf(model)
                ref = f64_reference.forward(meta, w, ids).reshape(-1)
                sh(a.strata, "run", "-q", "-m", model, "-p", PROMPT, "-n", "1", "--temp", "0",
                   "--dump-logits", mine)
                sh(a.llama_logits, model, ",".join(map(str, ids)), theirs)
                es = rel_rmse(np.fromfile(mine, dtype="<f4"), ref)
                el = rel_rmse(np.fromfile(theirs, dtype="<f4"), ref)
                ratios.setdefault(t, []).append(es / el)
                print(f"seed {seed} std {std} {t}: strata {es:.5f} llama.cpp {el:.5f} "
                      f"ratio {es / el:.3f}", flush=True)
    print("\ntype      models  mean ratio  max ratio  above 1")
    for t, r in ratios.items():
        print(f"{t:8}  {len(r):6}  {np.mean(r):10.3f}  {max(r):9.3f}  {sum(x > 1 for x in r):7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
