#!/usr/bin/env python3
"""PyTorch reference for the cross-modal contrastive losses (NCE, MMS, AMM) of the Spoken Moments
paper, written from its equations in float64; writes loss values and gradients for
Tests/ModelsTests/ContrastiveLossTests.swift.

    /usr/bin/python3 tools/contrastive_fixtures.py      # Debian's python3-torch (1.13)

Writes Tests/ModelsTests/Fixtures/contrastive.safetensors: for each case a score matrix
`CASE.scores` and, per loss variant, `CASE.VARIANT.loss` and `CASE.VARIANT.grad` (dL/dS).
"""
import os

import torch

from torch_fixtures import MODELS_OUT, write_safetensors


def direction(s, kind, margin=0.001, alpha=0.5, detach=False, clamp=False):
    """Mean over anchors i (rows of s) of the loss ranking row i."""
    b = s.shape[0]
    eye = torch.eye(b, dtype=torch.bool)
    pos = s.diagonal()
    if kind == "nce":
        neg = s.masked_fill(eye, float("-inf"))
        return (torch.logsumexp(neg, dim=1) - pos).mean()
    if kind == "mms":
        m = torch.full((b,), margin, dtype=s.dtype)
    else:  # amm: alpha times the gap between the positive and this row's mean negative
        mean_neg = (s.sum(dim=1) - pos) / (b - 1)
        m = alpha * (pos - mean_neg)
        if clamp:
            m = torch.relu(m)  # subgradient 0 at a zero margin, as ours
        if detach:
            m = m.detach()
    logits = s - torch.diag(m)
    return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()


def loss(s, **variant):
    return direction(s, **variant) + direction(s.t(), **variant)


VARIANTS = {
    "nce": dict(kind="nce"),
    "mms": dict(kind="mms", margin=0.001),
    "mms_large": dict(kind="mms", margin=0.5),
    "amm": dict(kind="amm", alpha=0.5),
    "amm_detached": dict(kind="amm", alpha=0.5, detach=True),
    "amm_clamped": dict(kind="amm", alpha=0.3, clamp=True),
}


def cases():
    torch.manual_seed(7)
    yield "random", torch.randn(8, 8, dtype=torch.float64) * 3
    yield "pair", torch.tensor([[1.5, -0.5], [2.0, 0.25]], dtype=torch.float64)
    ties = torch.full((4, 4), 0.5, dtype=torch.float64)
    ties[1, 2] = ties[2, 1] = 2.0
    yield "ties", ties
    large = torch.randn(5, 5, dtype=torch.float64).sign() * 1e4
    large[0, 0], large[3, 1] = -1e4, 9999.0
    yield "large", large


def main():
    tensors = {}
    for name, scores in cases():
        tensors[f"{name}.scores"] = scores
        for label, variant in VARIANTS.items():
            s = scores.clone().requires_grad_()
            value = loss(s, **variant)
            value.backward()
            tensors[f"{name}.{label}.loss"] = value.detach().reshape(1)
            tensors[f"{name}.{label}.grad"] = s.grad
    write_safetensors(os.path.join(MODELS_OUT, "contrastive.safetensors"), tensors, {"torch": torch.__version__})
    print("wrote", len(tensors), "tensors; torch", torch.__version__)


if __name__ == "__main__":
    main()
