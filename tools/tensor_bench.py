#!/usr/bin/python3
"""PyTorch side of the Tensor engine benchmark: the same small-BERT training step as
`tensor-bench bert` (4 layers, hidden 256, 4 heads, FFN 1024, vocabulary 8192, seq 128,
batch 32, dropout 0.1, MLM loss on 15% of positions, AdamW).

Usage: tensor_bench.py [steps] [masked|all]. `all` sends every position through the MLM head, as
transformers' BertForMaskedLM does; `masked` (the default, like the engine's) only the masked ones.
Run by tools/bench-tensor.sh with Debian's python3 and torch; prints `bert_step_ms=...`.
"""
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

VOCAB, HIDDEN, HEADS, INTER, LAYERS, LENGTH, BATCH = 8192, 256, 4, 1024, 4, 128, 32


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(HIDDEN, HIDDEN) for _ in range(4))
        self.norm1 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.up, self.down = torch.nn.Linear(HIDDEN, INTER), torch.nn.Linear(INTER, HIDDEN)
        self.norm2 = torch.nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, x):
        b, length, _ = x.shape

        def split(t):
            return t.view(b, length, HEADS, HIDDEN // HEADS).permute(0, 2, 1, 3)

        scores = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / math.sqrt(HIDDEN // HEADS)
        probabilities = F.dropout(scores.softmax(-1), 0.1, self.training)
        context = (probabilities @ split(self.v(x))).permute(0, 2, 1, 3).reshape(b, length, HIDDEN)
        h = self.norm1(F.dropout(self.o(context), 0.1, self.training) + x)
        return self.norm2(F.dropout(self.down(F.gelu(self.up(h))), 0.1, self.training) + h)


class SmallBert(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.words = torch.nn.Embedding(VOCAB, HIDDEN)
        self.positions = torch.nn.Embedding(LENGTH, HIDDEN)
        self.norm = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(LAYERS))
        self.head = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens, targets, all_positions):
        x = F.dropout(self.norm(self.words(tokens) + self.positions.weight), 0.1, self.training)
        for layer in self.layers:
            x = layer(x)
        x, targets = x.reshape(-1, HIDDEN), targets.view(-1)
        if not all_positions:
            rows = targets != -100
            x, targets = x[rows], targets[rows]
        return F.cross_entropy(self.head(x), targets, ignore_index=-100)


def main():
    threads = int(os.environ.get("TENSOR_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    all_positions = len(sys.argv) > 2 and sys.argv[2] == "all"
    torch.manual_seed(0)
    model = SmallBert()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = torch.randint(0, VOCAB, (BATCH, LENGTH))
    targets = torch.where(torch.rand(BATCH, LENGTH) < 0.15, tokens, torch.full_like(tokens, -100))
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model(tokens, targets, all_positions)
        loss.backward()
        optimizer.step()
        if step > 0:
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"threads: {torch.get_num_threads()} torch {torch.__version__}")
    print(f"bert_step_ms={times[len(times) // 2]:.1f}")


if __name__ == "__main__":
    main()
