#!/usr/bin/python3
"""PyTorch side of the encoder benchmarks: the same models and inputs as `encoders-bench`.

    TENSOR_THREADS=2 /usr/bin/python3 tools/encoders_bench.py resdavenet|resnet18|framecnn
Prints `<name>_ms=...` (median of RUNS runs after a warm-up). Run by tools/bench-encoders.sh.
"""
import os
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from encoder_fixtures import FrameCNN, ResDAVEnet  # noqa: E402


def median_ms(body, runs):
    body()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        body()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    torch.set_num_threads(int(os.environ.get("TENSOR_THREADS", os.cpu_count())))
    runs = int(os.environ.get("RUNS", 3))
    which = sys.argv[1]
    torch.manual_seed(1)
    if which == "resdavenet":
        model = ResDAVEnet(mels=40, stem=128, widths=[128, 256, 512, 1024], blocks=[2, 2, 2, 2], width=9).float()
        mel = torch.rand(32, 40, 1024) * 2 - 1
        lengths = torch.full((32,), 1024)
        model.train()

        def step():
            model.zero_grad(set_to_none=True)
            model(mel, lengths).sum().backward()
    elif which == "resnet18":
        model = torchvision.models.resnet18().eval()
        model.fc = torch.nn.Identity()
        clips = torch.rand(32, 8, 3, 112, 112) * 2 - 1

        def step():
            with torch.no_grad():
                model(clips.view(256, 3, 112, 112)).view(32, 8, -1)
    elif which == "framecnn":
        model = FrameCNN([32, 64, 128], frames=8).train()
        clips = torch.rand(32, 8, 3, 64, 64) * 2 - 1

        def step():
            model.zero_grad(set_to_none=True)
            model(clips).sum().backward()
    else:
        sys.exit("usage: encoders_bench.py resdavenet | resnet18 | framecnn")
    print(f"threads: {torch.get_num_threads()} torch {torch.__version__}")
    print(f"{which}_ms={median_ms(step, runs):.1f}")


if __name__ == "__main__":
    main()
