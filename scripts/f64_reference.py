#!/usr/bin/python3
"""A float64 reference forward pass for the accuracy tests of quantized types and experts.

Reads a GGUF file (llama, with or without experts (Mixtral), and qwen3moe: the models
`strata make-model` writes), dequantizes every
tensor exactly from ggml's block layouts (written here from the format description, separately
from strata's C++ codecs), runs the transformer in float64 with numpy and writes the logits of
every position of a token sequence as little-endian float64.

Needs only Debian's python3-numpy (`apt-get install python3-numpy`, then run it with
/usr/bin/python3). Not run by the build or the tests: its outputs are kept in tests/data.

  scripts/f64_reference.py MODEL.gguf --ids 1,2,3 --out LOGITS.f64
"""
import argparse
import struct
import sys

import numpy as np

# ---- GGUF ----

GGML = {  # id: (name, block elements, block bytes)
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 20: ("IQ4_NL", 32, 18), 23: ("IQ4_XS", 256, 136),
    30: ("BF16", 1, 2),
}


def read_gguf_header(data):
    """(metadata, [(name, shape, ggml type id, offset)], data offset) of a GGUF file's bytes."""
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string():
        n = take("Q")
        nonlocal pos
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    scalars = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t in scalars:
            return take(scalars[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError(f"metadata type {t}")

    assert data[:4] == b"GGUF", "not a GGUF file"
    pos = 4
    version, n_tensors, n_kv = take("I"), take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        t, off = take("I"), take("Q")
        infos.append((name, ne, t, off))
    align = meta.get("general.alignment", 32)
    return meta, infos, (pos + align - 1) // align * align


def tensor_types(path):
    """{tensor name: ggml type name} of a GGUF file."""
    _, infos, _ = read_gguf_header(open(path, "rb").read())
    return {name: GGML[t][0] for name, _, t, _ in infos}


def read_gguf(path):
    data = open(path, "rb").read()
    meta, infos, base = read_gguf_header(data)
    tensors = {}
    for name, ne, t, off in infos:
        tname, be, bb = GGML[t]
        n = int(np.prod(ne))
        raw = data[base + off: base + off + n // be * bb]
        tensors[name] = dequantize(tname, raw, n).reshape(list(reversed(ne)))
    return meta, tensors


# ---- dequantization (float64 results of exactly representable values) ----

def f16(b):
    return np.frombuffer(b, dtype="<f2").astype(np.float64)


def blocks(raw, nbytes):
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, nbytes)


def nibbles(qs):  # [nb, 16] -> [nb, 32]: low nibbles, then high nibbles
    return np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.int64)


IQ4 = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.float64)


def bits32(qh):  # [nb, 4] bytes -> [nb, 32] bits, bit j of the little-endian word
    w = qh.astype(np.uint32)
    word = w[:, 0] | (w[:, 1] << 8) | (w[:, 2] << 16) | (w[:, 3] << 24)
    return ((word[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int64)


def k_scales(s):  # [nb, 12] -> scales [nb, 8], mins [nb, 8] (6 bits each)
    s = s.astype(np.int64)
    sc = np.zeros((s.shape[0], 8), np.int64)
    mn = np.zeros_like(sc)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            mn[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4)
            mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, mn


def dequantize(t, raw, n):
    if t == "F32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float64)
    if t == "F16":
        return f16(raw)
    if t == "BF16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if t == "Q8_0":
        b = blocks(raw, 34)
        return (f16(b[:, :2].tobytes())[:, None] * b[:, 2:].view(np.int8)).reshape(-1)
    if t in ("Q4_0", "IQ4_NL"):
        b = blocks(raw, 18)
        d = f16(b[:, :2].tobytes())[:, None]
        q = nibbles(b[:, 2:])
        return (d * (q - 8 if t == "Q4_0" else IQ4[q])).reshape(-1)
    if t == "Q4_1":
        b = blocks(raw, 20)
        return (f16(b[:, :2].tobytes())[:, None] * nibbles(b[:, 4:]) + f16(b[:, 2:4].tobytes())[:, None]).reshape(-1)
    if t in ("Q5_0", "Q5_1"):
        off = 2 if t == "Q5_0" else 4
        b = blocks(raw, 22 if t == "Q5_0" else 24)
        q = nibbles(b[:, off + 4:]) | (bits32(b[:, off:off + 4]) << 4)
        d = f16(b[:, :2].tobytes())[:, None]
        if t == "Q5_0":
            return (d * (q - 16)).reshape(-1)
        return (d * q + f16(b[:, 2:4].tobytes())[:, None]).reshape(-1)
    nb = n // 256
    y = np.zeros((nb, 256))
    e = np.arange(256)
    if t == "Q2_K":
        b = blocks(raw, 84)
        scales, qs = b[:, :16].astype(np.int64), b[:, 16:80].astype(np.int64)
        d, dmin = f16(b[:, 80:82].tobytes())[:, None], f16(b[:, 82:84].tobytes())[:, None]
        q = (qs[:, 32 * (e // 128) + e % 32] >> (2 * ((e % 128) // 32))) & 3
        sc = scales[:, e // 16]
        return (d * (sc & 0xF) * q - dmin * (sc >> 4)).reshape(-1)
    if t == "Q3_K":
        b = blocks(raw, 110)
        hm, qs, s = b[:, :32].astype(np.int64), b[:, 32:96].astype(np.int64), b[:, 96:108].astype(np.int64)
        d = f16(b[:, 108:110].tobytes())[:, None]
        i = np.arange(16)
        low = np.where(i < 8, s[:, i % 8] & 0xF, s[:, i % 8] >> 4)
        high = (s[:, 8 + i % 4] >> (2 * (i // 4))) & 3
        sc = (low | (high << 4)) - 32
        h, plane, l = e // 128, (e % 128) // 32, e % 32
        q = ((qs[:, 32 * h + l] >> (2 * plane)) & 3) - np.where((hm[:, l] >> (4 * h + plane)) & 1, 0, 4)
        return (d * sc[:, e // 16] * q).reshape(-1)
    if t in ("Q4_K", "Q5_K"):
        b = blocks(raw, 144 if t == "Q4_K" else 176)
        d, dmin = f16(b[:, :2].tobytes())[:, None], f16(b[:, 2:4].tobytes())[:, None]
        sc, mn = k_scales(b[:, 4:16])
        qs = b[:, 16:144].astype(np.int64) if t == "Q4_K" else b[:, 48:176].astype(np.int64)
        j = e // 32
        v = qs[:, 32 * (j // 2) + e % 32]
        q = np.where(j % 2 == 1, v >> 4, v & 0xF)
        if t == "Q5_K":
            qh = b[:, 16:48].astype(np.int64)
            q = q | (((qh[:, e % 32] >> j) & 1) << 4)
        return (d * sc[:, j] * q - dmin * mn[:, j]).reshape(-1)
    if t == "Q6_K":
        b = blocks(raw, 210)
        ql, qh = b[:, :128].astype(np.int64), b[:, 128:192].astype(np.int64)
        sc = b[:, 192:208].view(np.int8).astype(np.int64)
        d = f16(b[:, 208:210].tobytes())[:, None]
        h, r = e // 128, e % 128
        l, part = r % 32, r // 32  # part 0: low nibble of ql[l], 1: low of ql[l+32], 2: high of ql[l], 3: high of ql[l+32]
        lo = np.where(part % 2 == 0, ql[:, 64 * h + l], ql[:, 64 * h + l + 32])
        lo = np.where(part < 2, lo & 0xF, lo >> 4)
        hi = (qh[:, 32 * h + l] >> (2 * part)) & 3
        return (d * sc[:, e // 16] * ((lo | (hi << 4)) - 32)).reshape(-1)
    if t == "IQ4_XS":
        b = blocks(raw, 136)
        d = f16(b[:, :2].tobytes())[:, None]
        sh = b[:, 2].astype(np.int64) | (b[:, 3].astype(np.int64) << 8)
        sl = b[:, 4:8].astype(np.int64)
        qs = b[:, 8:136].astype(np.int64)
        j = e // 32
        ls = ((sl[:, j // 2] >> (4 * (j % 2))) & 0xF) | (((sh[:, None] >> (2 * j)) & 3) << 4)
        k = e % 32
        v = qs[:, 16 * j + k % 16]
        q = np.where(k < 16, v & 0xF, v >> 4)
        return (d * (ls - 32) * IQ4[q]).reshape(-1)
    raise ValueError(f"type {t}")


# ---- the forward pass ----

def moe_ffn(meta, w, p, h):
    """A mixture-of-experts FFN over h [T, n_embd], routed as the architecture defines it."""
    a = meta["general.architecture"]
    k = meta[f"{a}.expert_used_count"]
    logits = h @ w[p + "ffn_gate_inp.weight"].T  # [T, n_expert]
    gate_e, up_e, down_e = (w[p + f"ffn_{n}_exps.weight"] for n in ("gate", "up", "down"))
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        lg = logits[t]
        if a == "qwen3moe":
            # Qwen3-MoE: softmax over every expert, the k most probable, renormalized when
            # norm_topk_prob (llama.cpp always renormalizes for qwen3moe).
            pr = np.exp(lg - lg.max())
            pr /= pr.sum()
            sel = np.argsort(-pr, kind="stable")[:k]  # ties: the lower index first
            wt = pr[sel]
            if meta.get(f"{a}.expert_weights_norm", True):
                wt = wt / wt.sum()
        else:
            # Mixtral: the k largest logits, softmax over those k.
            sel = np.argsort(-lg, kind="stable")[:k]
            wt = np.exp(lg[sel] - lg[sel].max())
            wt /= wt.sum()
        for e, we in zip(sel, wt):
            g = gate_e[e] @ h[t]
            u = up_e[e] @ h[t]
            out[t] += we * (down_e[e] @ (g / (1 + np.exp(-g)) * u))
    return out


def forward(meta, w, ids):
    a = meta["general.architecture"]
    n_layer = meta[f"{a}.block_count"]
    n_head, n_kv = meta[f"{a}.attention.head_count"], meta[f"{a}.attention.head_count_kv"]
    eps = meta[f"{a}.attention.layer_norm_rms_epsilon"]
    theta = meta.get(f"{a}.rope.freq_base", 10000.0)
    emb = w["token_embd.weight"]
    hd = meta.get(f"{a}.attention.key_length", emb.shape[1] // n_head)
    half = hd // 2
    inv = 1.0 / theta ** (np.arange(half) * 2.0 / hd)
    if "rope_freqs.weight" in w:
        inv = inv / w["rope_freqs.weight"]
    neox = a in ("qwen2", "qwen3", "qwen3moe")  # rotate halves; GGUF llama: adjacent pairs

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x, pos):
        ang = pos[:, None] * inv[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        out = np.empty_like(x)
        if neox:
            x0, x1 = x[..., :half], x[..., half:]
            out[..., :half] = x0 * c - x1 * s
            out[..., half:] = x0 * s + x1 * c
            return out
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    T = len(ids)
    pos = np.arange(T, dtype=np.float64)
    x = emb[ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(n_layer):
        p = f"blk.{l}."
        h = rms(x, w[p + "attn_norm.weight"])
        q = (h @ w[p + "attn_q.weight"].T).reshape(T, n_head, hd)
        k = (h @ w[p + "attn_k.weight"].T).reshape(T, n_kv, hd)
        v = (h @ w[p + "attn_v.weight"].T).reshape(T, n_kv, hd)
        if p + "attn_q_norm.weight" in w:  # Qwen3: RMSNorm of each head of q and k
            q, k = rms(q, w[p + "attn_q_norm.weight"]), rms(k, w[p + "attn_k_norm.weight"])
        q, k = rope(q, pos), rope(k, pos)
        g = n_head // n_kv
        out = np.empty((T, n_head, hd))
        for hh in range(n_head):
            s = q[:, hh] @ k[:, hh // g].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            out[:, hh] = s @ v[:, hh // g]
        x = x + out.reshape(T, -1) @ w[p + "attn_output.weight"].T
        h = rms(x, w[p + "ffn_norm.weight"])
        if p + "ffn_gate_inp.weight" in w:
            x = x + moe_ffn(meta, w, p, h)
            continue
        gate = h @ w[p + "ffn_gate.weight"].T
        up = h @ w[p + "ffn_up.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "ffn_down.weight"].T
    x = rms(x, w["output_norm.weight"])
    head = w.get("output.weight", emb)
    return x @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True, help="logits, [len(ids), n_vocab] float64")
    args = ap.parse_args()
    meta, w = read_gguf(args.model)
    assert meta["general.architecture"] in ("llama", "qwen3", "qwen3moe"), "llama, qwen3, qwen3moe only"
    ids = [int(v) for v in args.ids.split(",")]
    forward(meta, w, ids).astype("<f8").tofile(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
