#!/usr/bin/python3
"""PyTorch side of the RetroMAE step benchmark: the architecture of Sources/Models (BERT encoder with
MLM head from transformers, one enhanced-decoder layer whose queries are h + p_i and whose keys and
values are [h, e(x_1..N)], tied embeddings and head), one training step = forward, backward, AdamW.
Run by tools/bench-retromae.sh with Debian's torch and transformers 4.30.2 (see retromae_fixtures.py).
"""
import math
import sys
import time

import torch
from transformers import BertConfig, BertForMaskedLM

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.set_num_threads(THREADS)
B, L, V, H, HEADS = 32, 128, 30522, 256, 4


class DecoderLayer(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(H, H) for _ in range(4))
        self.norm1, self.norm2 = torch.nn.LayerNorm(H, eps=1e-12), torch.nn.LayerNorm(H, eps=1e-12)
        self.up, self.down = torch.nn.Linear(H, config.intermediate_size), torch.nn.Linear(config.intermediate_size, H)
        self.drop = torch.nn.Dropout(0.1)

    def forward(self, query, content, mask):
        def split(x):
            return x.view(B, L, HEADS, H // HEADS).transpose(1, 2)
        scores = split(self.q(query)) @ split(self.k(content)).transpose(-1, -2) / math.sqrt(H // HEADS) + mask
        mixed = (self.drop(scores.softmax(-1)) @ split(self.v(content))).transpose(1, 2).reshape(B, L, H)
        h = self.norm1(self.drop(self.o(mixed)) + query)
        return self.norm2(self.drop(self.down(torch.nn.functional.gelu(self.up(h)))) + h)


def main():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=4, num_attention_heads=HEADS, intermediate_size=1024)
    mlm = BertForMaskedLM(config)
    decoder = DecoderLayer(config)
    params = list(mlm.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    ids = torch.randint(1000, V, (B, L))
    ids[:, 0], ids[:, -1] = 101, 102
    enc_labels = torch.full((B, L), -100)
    chosen = torch.rand(B, L) < 0.3
    chosen[:, 0] = chosen[:, -1] = False
    enc_labels[chosen] = ids[chosen]
    enc_ids = ids.clone()
    enc_ids[chosen] = 103
    dec_labels = ids.clone()
    dec_labels[:, 0] = dec_labels[:, -1] = -100
    visible = torch.rand(B, L, L) >= 0.5
    visible[:, :, 0] = True
    visible[:, torch.arange(L), torch.arange(L)] = False
    mask = torch.where(visible, 0.0, -1e9).unsqueeze(1)
    positions = torch.arange(L)
    times, losses = [], []
    for step in range(STEPS + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        out = mlm(input_ids=enc_ids, labels=enc_labels, output_hidden_states=True)
        h = out.hidden_states[-1][:, :1]
        embeddings = mlm.bert.embeddings(input_ids=ids)
        content = torch.cat([h, embeddings[:, 1:]], dim=1)
        query = mlm.bert.embeddings.position_embeddings(positions).unsqueeze(0) + h
        decoded = decoder(query, content, mask)
        rows = dec_labels.view(-1) != -100
        logits = mlm.cls(decoded.reshape(-1, H)[rows])
        loss = out.loss + torch.nn.functional.cross_entropy(logits, dec_labels.view(-1)[rows])
        loss.backward()
        optimizer.step()
        if step > 0:
            times.append(time.perf_counter() - start)
        losses.append(float(loss))
    median = sorted(times)[len(times) // 2]
    print("pytorch retromae step: %.1f ms, %.0f tokens/s (median of %d; losses %s)"
          % (median * 1000, B * L / median, len(times), " ".join("%.3f" % x for x in losses)))


if __name__ == "__main__":
    main()
