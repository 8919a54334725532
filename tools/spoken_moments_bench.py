#!/usr/bin/python3
"""PyTorch side of the Spoken Moments step benchmark: the same model, batch and optimizer as
`spoken-moments-bench` (the trainer's defaults). The towers are the encoder fixtures' modules;
the heads are two linear layers with a ReLU between and a GLU; the loss is AMM (alpha 0.5, the
margin clamped at zero and not detached) both ways, as tools/contrastive_fixtures.py writes it.

    TENSOR_THREADS=2 /usr/bin/python3 tools/spoken_moments_bench.py
Prints `spoken_moments_step_ms=...` (median of RUNS updates after a warm-up).
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from contrastive_fixtures import loss  # noqa: E402
from encoder_fixtures import FrameCNN, ResDAVEnet  # noqa: E402


def head(inp, out):
    return torch.nn.Sequential(torch.nn.Linear(inp, out), torch.nn.ReLU(), torch.nn.Linear(out, 2 * out), torch.nn.GLU(dim=1))


def main():
    torch.set_num_threads(int(os.environ.get("TENSOR_THREADS", os.cpu_count())))
    runs = int(os.environ.get("RUNS", 5))
    torch.manual_seed(1)
    batch, longest, embedding = 32, 256, 256
    video = FrameCNN([32, 64, 128], frames=8)
    audio = ResDAVEnet(mels=40, stem=32, widths=[32, 64, 128, 256], blocks=[1, 1, 1, 1], width=9)
    video_head, audio_head = head(128, embedding), head(256, embedding)
    modules = torch.nn.ModuleList([video, audio, video_head, audio_head]).train()
    optimizer = torch.optim.Adam(modules.parameters(), lr=1e-3)
    frames = torch.rand(batch, 8, 3, 32, 32)
    lengths = torch.tensor([150 + i * (longest - 150) // (batch - 1) for i in range(batch)])
    mel = (torch.rand(batch, 40, longest) * 2 - 1) * (torch.arange(longest).view(1, 1, -1) < lengths.view(-1, 1, 1))

    def step():
        optimizer.zero_grad(set_to_none=True)
        s = video_head(video(frames)) @ audio_head(audio(mel, lengths)).t()
        loss(s, kind="amm", alpha=0.5, clamp=True).backward()
        optimizer.step()

    step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    print(f"threads: {torch.get_num_threads()} torch {torch.__version__}")
    print(f"spoken_moments_step_ms={sorted(times)[len(times) // 2]:.1f}")


if __name__ == "__main__":
    main()
