#!/usr/bin/python3
"""PyTorch reference of the multimodal capsule layer (Sources/Models/Capsules), written from the
equations in its doc comments in float64; writes outputs and gradients for
Tests/ModelsTests/CapsuleTests.swift.

    /usr/bin/python3 tools/capsule_fixtures.py      # Debian's python3-torch (1.13)

Writes Tests/ModelsTests/Fixtures/capsules.safetensors: the parameters `param.NAME` (the Swift
layer's names), inputs `input.MODALITY` with `length.MODALITY`, the probe, and per routing R:
`R.capsules` (all three modalities routed jointly), `R.embedding`, `R.text_alone` and the
gradients `R.grad.NAME` of sum(embedding * probe) for every parameter and input.
"""
import math
import os

import torch

from torch_fixtures import MODELS_OUT, write_safetensors

EPS = 1e-6
ITERATIONS = 3
FEATURES = {"video": 5, "audio": 4, "text": 3}
LENGTHS = {"video": [3, 2], "audio": [4, 1], "text": [2, 1]}
POSE, OUTPUTS, EMBEDDING, BATCH = 4, 3, 6, 2


def primary(params, modality, tokens, lengths):
    """Poses [B, N, D] and activations [B, N], zero on padding."""
    valid = torch.zeros(tokens.shape[:2], dtype=tokens.dtype)
    for row, length in enumerate(lengths):
        valid[row, :length] = 1
    out = tokens @ params[f"primary.{modality}.map.weight"].t() + params[f"primary.{modality}.map.bias"]
    poses, logits = out[..., :-1], out[..., -1]
    return poses * valid[..., None], torch.sigmoid(logits) * valid, valid


def votes(params, inputs):
    """[B, M, N, D] votes u_hat_{n|i} = W_{n,m}^T u_i, with activations and validity [B, N]."""
    all_votes, acts, valids = [], [], []
    for modality, (tokens, lengths) in inputs:
        poses, a, valid = primary(params, modality, tokens, lengths)
        b, n, d = poses.shape
        v = (poses @ params[f"transform.{modality}"]).reshape(b, n, -1, d).permute(0, 2, 1, 3)
        all_votes.append(v)
        acts.append(a)
        valids.append(valid)
    return torch.cat(all_votes, 2), torch.cat(acts, 1), torch.cat(valids, 1)


def length(s):
    return torch.sqrt((s * s).sum(-1, keepdim=True) + EPS * EPS)


def efficient_squash(s):
    norm = length(s)
    decay = torch.exp(-norm)
    return (1 - decay / (1 + EPS * decay)) * s / norm


def sabour_squash(s):
    norm = length(s)
    return norm ** 2 / (1 + norm ** 2) * s / norm


def route(kind, u, a, valid, full=True):
    """Output capsules [B, M, D]; `full` writes self-attention's N x N agreement out (the
    reference), else its factorised form (the benchmark)."""
    d = u.shape[-1]
    if kind == "none":
        w = valid / (valid.sum(1, keepdim=True) + EPS)
        return torch.einsum("bi,bnid->bnd", w, u)
    mass = a.sum(1, keepdim=True) + EPS  # [B, 1]
    if kind == "self_attention":
        centre = torch.einsum("bk,bnkd->bnd", a, u) / mass[..., None]
        z = torch.einsum("bnid,bnd->bni", u, centre) / math.sqrt(d)
        if full:
            # the activation-weighted row mean of A_n = U_n U_n^T / sqrt(D), written out
            agreement = torch.einsum("bnid,bnkd->bnik", u, u) / math.sqrt(d)
            z_full = torch.einsum("bnik,bk->bni", agreement, a) / mass[..., None]
            assert torch.allclose(z, z_full)
        c = torch.softmax(z, dim=1)
        return efficient_squash(torch.einsum("bni,bi,bnid->bnd", c, a, u) / mass[..., None])
    logits = torch.zeros(u.shape[:3], dtype=u.dtype)
    for iteration in range(ITERATIONS):
        c = torch.softmax(logits, dim=1)
        v = sabour_squash(torch.einsum("bni,bi,bnid->bnd", c, a, u) / mass[..., None])
        if iteration + 1 < ITERATIONS:
            logits = logits + torch.einsum("bnid,bnd->bni", u, v)
    return v


def head(params, x):
    hidden = torch.relu(x @ params["head.0.weight"].t() + params["head.0.bias"])
    return torch.nn.functional.glu(hidden @ params["head.1.weight"].t() + params["head.1.bias"], dim=-1)


def embed(params, kind, inputs, full=True):
    u, a, valid = votes(params, inputs)
    capsules = route(kind, u, a, valid, full)
    return capsules, head(params, capsules.reshape(capsules.shape[0], -1))


def main():
    torch.manual_seed(14)

    def tensor(*shape, scale=0.7):
        # float32-representable values, computed on in float64
        return (torch.randn(*shape) * scale).to(torch.float32).to(torch.float64)

    params = {}
    for modality, width in FEATURES.items():
        params[f"primary.{modality}.map.weight"] = tensor(POSE + 1, width)
        params[f"primary.{modality}.map.bias"] = tensor(POSE + 1)
        params[f"transform.{modality}"] = tensor(POSE, OUTPUTS * POSE)
    params["head.0.weight"] = tensor(EMBEDDING, OUTPUTS * POSE)
    params["head.0.bias"] = tensor(EMBEDDING)
    params["head.1.weight"] = tensor(2 * EMBEDDING, EMBEDDING)
    params["head.1.bias"] = tensor(2 * EMBEDDING)
    # padded tokens hold random values too: the layer must ignore them
    inputs = {m: tensor(BATCH, max(LENGTHS[m]), w, scale=1.5) for m, w in FEATURES.items()}
    probe = tensor(BATCH, EMBEDDING, scale=1)

    out = {f"param.{n}": t for n, t in params.items()}
    out.update({f"input.{m}": t for m, t in inputs.items()})
    out.update({f"length.{m}": torch.tensor(l, dtype=torch.float64) for m, l in LENGTHS.items()})
    out["probe"] = probe
    for kind in ["self_attention", "dynamic", "none"]:
        leaves = {n: t.clone().requires_grad_() for n, t in params.items()}
        leaves.update({f"input.{m}": t.clone().requires_grad_() for m, t in inputs.items()})
        joint = [(m, (leaves[f"input.{m}"], LENGTHS[m])) for m in FEATURES]
        capsules, embedding = embed(leaves, kind, joint)
        (embedding * probe).sum().backward()
        out[f"{kind}.capsules"] = capsules.detach()
        out[f"{kind}.embedding"] = embedding.detach()
        for name, leaf in leaves.items():
            out[f"{kind}.grad.{name}"] = leaf.grad
        with torch.no_grad():
            out[f"{kind}.text_alone"] = embed(params, kind, [("text", (inputs["text"], LENGTHS["text"]))])[1]
    write_safetensors(os.path.join(MODELS_OUT, "capsules.safetensors"), out, {"torch": torch.__version__})
    print("wrote", len(out), "tensors; torch", torch.__version__)


if __name__ == "__main__":
    main()
