#!/usr/bin/python3
"""The capsule training step of `capsules-bench step` in PyTorch 1.13 (Debian's python3-torch):
the same shapes, encoders (tools/encoder_fixtures.py's FrameCNN and ResDAVEnet layers), capsule
layer (tools/capsule_fixtures.py's equations, self-attention factorised), MMS over the three
modality pairs (tools/contrastive_fixtures.py) and Adam. tools/bench-capsules.sh runs both.

    TENSOR_THREADS=1 /usr/bin/python3 tools/capsules_bench.py self_attention|dynamic [ROUNDS]
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from capsule_fixtures import embed  # noqa: E402
from contrastive_fixtures import loss as contrastive  # noqa: E402
from encoder_fixtures import FrameCNN, ResDAVEnet  # noqa: E402

CLIPS, FRAMES, SIZE, MEL_FRAMES, WORDS, VOCAB = 16, 8, 32, 200, 12, 1000
POSE, OUTPUTS, EMBEDDING = 16, 8, 128


def main():
    routing = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(int(os.environ.get("TENSOR_THREADS", os.cpu_count())))
    torch.manual_seed(2)
    video = FrameCNN([16, 32, 64], frames=FRAMES).train()
    audio = ResDAVEnet(mels=40, stem=16, widths=[16, 32, 64, 128], blocks=[1, 1, 1, 1], width=9).train()
    words = torch.nn.Embedding(VOCAB, 64)
    text = torch.nn.Linear(64, 64)
    params = {}
    for modality, width in {"video": 64, "audio": 128, "text": 64}.items():
        params[f"primary.{modality}.map.weight"] = torch.nn.Parameter(torch.randn(POSE + 1, width) * 0.1)
        params[f"primary.{modality}.map.bias"] = torch.nn.Parameter(torch.zeros(POSE + 1))
        params[f"transform.{modality}"] = torch.nn.Parameter(torch.randn(POSE, OUTPUTS * POSE) * 0.25)
    params["head.0.weight"] = torch.nn.Parameter(torch.randn(EMBEDDING, OUTPUTS * POSE) * 0.1)
    params["head.0.bias"] = torch.nn.Parameter(torch.zeros(EMBEDDING))
    params["head.1.weight"] = torch.nn.Parameter(torch.randn(2 * EMBEDDING, EMBEDDING) * 0.1)
    params["head.1.bias"] = torch.nn.Parameter(torch.zeros(2 * EMBEDDING))
    everything = [*video.parameters(), *audio.parameters(), *words.parameters(), *text.parameters(), *params.values()]
    optimizer = torch.optim.Adam(everything, lr=1e-3)

    clips = torch.rand(CLIPS, FRAMES, 3, SIZE, SIZE)
    mel = torch.randn(CLIPS, 40, MEL_FRAMES)
    mel_lengths = torch.tensor([MEL_FRAMES - 5 * c for c in range(CLIPS)])
    caption_lengths = [WORDS - c % 4 for c in range(CLIPS)]
    ids = torch.tensor([[(c * 31 + t * 7) % 995 + 5 if t < caption_lengths[c] else 0 for t in range(WORDS)] for c in range(CLIPS)])

    def step():
        optimizer.zero_grad(set_to_none=True)
        a_tokens, a_lengths = audio.frames(mel, mel_lengths)
        inputs = {
            "video": (video.frame_features(clips), [FRAMES] * CLIPS),
            "audio": (a_tokens.transpose(1, 2), a_lengths.tolist()),
            "text": (text(words(ids)), caption_lengths),
        }
        e = {m: embed(params, routing, [(m, inputs[m])], full=False)[1] for m in inputs}
        total = sum(contrastive(e[a] @ e[b].t(), kind="mms", margin=0.001) for a, b in [("audio", "video"), ("audio", "text"), ("text", "video")])
        total.backward()
        optimizer.step()

    times = []
    for round in range(rounds + 1):
        start = time.perf_counter()
        step()
        if round > 0:
            times.append((time.perf_counter() - start) * 1000)
    print(f"torch step routing={routing} ms={sorted(times)[len(times) // 2]:.1f} threads={torch.get_num_threads()} torch {torch.__version__}")


if __name__ == "__main__":
    main()
