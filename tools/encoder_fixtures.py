#!/usr/bin/python3
"""Reference fixtures for the encoders in Sources/Models, computed by PyTorch 1.13 in float64.

Run with Debian's python3, torch and torchvision (`tools/install-deps.sh python3-torch python3-torchvision`):
    /usr/bin/python3 tools/encoder_fixtures.py
Writes Tests/ModelsTests/Fixtures/{resdavenet,resnet18,frame_cnn}.safetensors.

- ResDAVEnet (small widths): weights, a padded batch of log-mel with its lengths, the training-mode
  embedding and the gradients of sum(embedding * probe), the running statistics after that step,
  and the eval-mode embedding.
- ResNet-18 (torchvision's own module): 11.7M weights do not belong in git, so every tensor is
  filled from a counter-based generator the Swift test reproduces (splitmix64 seeded by the
  FNV-1a hash of the tensor's name, see `fill`); the file holds the input and the logits.
- The frame CNN with temporal shift: weights, frames, embedding and gradients as for ResDAVEnet.
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from torch_fixtures import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures")
MASK64 = (1 << 64) - 1


def fnv1a(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def uniforms(name, count):
    """count values in [0, 1): splitmix64 of fnv1a(name) + (i + 1) * golden, top 24 bits."""
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a(name)) + (np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def fill(name, shape):
    """The value of state tensor `name`: conv/linear weights uniform with variance 1/fan_in,
    BatchNorm scales and running variances in [0.5, 1.5), shifts and means in [-0.2, 0.2)."""
    count = int(np.prod(shape))
    u = uniforms(name, count)
    if name.endswith("running_var") or (name.endswith("weight") and len(shape) == 1):
        v = 0.5 + u
    elif len(shape) == 1:
        v = 0.4 * u - 0.2
    else:
        fan_in = count // shape[0]
        v = (2 * u - 1) * np.sqrt(3.0 / fan_in)
    return torch.tensor(v.astype(np.float32).astype(np.float64)).reshape(shape)


def f32(t):
    """A float64 tensor holding float32-representable values (the Swift side reads float32)."""
    return t.float().double()


def speech_block(inp, planes, stride, width):
    pad = (width - 1) // 2
    block = torch.nn.Module()
    block.conv1 = torch.nn.Conv2d(inp, planes, (1, width), (1, stride), (0, pad), bias=False)
    block.bn1 = torch.nn.BatchNorm2d(planes)
    block.conv2 = torch.nn.Conv2d(planes, planes, (1, width), 1, (0, pad), bias=False)
    block.bn2 = torch.nn.BatchNorm2d(planes)
    block.downsample = None
    if stride != 1 or inp != planes:
        block.downsample = torch.nn.Sequential(torch.nn.Conv2d(inp, planes, 1, (1, stride), bias=False),
                                               torch.nn.BatchNorm2d(planes))
    return block


class ResDAVEnet(torch.nn.Module):
    """DAVEnet's ResDavenet layout, with activations past each clip's length zeroed before every
    convolution (what makes a padded batch embed like the unpadded clips) and a masked mean."""

    def __init__(self, mels, stem, widths, blocks, width):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, stem, (mels, 1), bias=False)
        self.bn1 = torch.nn.BatchNorm2d(stem)
        inp = stem
        for i, (planes, count) in enumerate(zip(widths, blocks)):
            stage = torch.nn.Sequential(*[speech_block(inp if j == 0 else planes, planes, 2 if j == 0 else 1, width)
                                          for j in range(count)])
            setattr(self, f"layer{i + 1}", stage)
            inp = planes
        self.stages = len(widths)

    @staticmethod
    def mask(x, lengths):
        frames = torch.arange(x.shape[-1]).view(1, 1, 1, -1)
        return x * (frames < lengths.view(-1, 1, 1, 1)).to(x.dtype)

    def frames(self, mel, lengths):
        """Frame features [N, C, T'] and each clip's frame count after the stages."""
        x = self.mask(torch.relu(self.bn1(self.conv1(mel.unsqueeze(1)))), lengths)
        for i in range(self.stages):
            lengths = (lengths + 1) // 2
            for block in getattr(self, f"layer{i + 1}"):
                h = self.mask(torch.relu(block.bn1(block.conv1(x))), lengths)
                h = block.bn2(block.conv2(h))
                shortcut = x if block.downsample is None else block.downsample(x)
                x = self.mask(torch.relu(h + shortcut), lengths)
        return x.squeeze(2), lengths

    def forward(self, mel, lengths):
        x, lengths = self.frames(mel, lengths)
        return x.sum(-1) / lengths.view(-1, 1).to(x.dtype)


def randomize(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var") or (name.endswith("weight") and t.dim() == 1):
                t.copy_(f32(0.5 + torch.rand(t.shape)))
            elif t.dim() == 1:
                t.copy_(f32(0.2 * torch.randn(t.shape)))
            else:
                t.copy_(f32(torch.randn(t.shape) / np.sqrt(t[0].numel())))


def state(model):
    return {n: t for n, t in model.state_dict().items() if not n.endswith("num_batches_tracked")}


def forward_backward_fixture(model, inputs, file):
    """Training-mode output and gradients of sum(output * probe) (for the parameters and the
    inputs that require them), the running statistics after that step, and the eval-mode output,
    with the weights the model started from and the named `inputs`."""
    start = {n: t.clone() for n, t in state(model).items()}
    model.train()
    out = model(*inputs.values())
    probe = f32(torch.randn(out.shape))
    (out * probe).sum().backward()
    model.eval()
    with torch.no_grad():
        evaluated = model(*inputs.values())
    tensors = dict(start)
    tensors.update({"output.train": out, "output.eval": evaluated, "probe": probe})
    tensors.update({"after." + n: t for n, t in state(model).items() if "running" in n})
    tensors.update({"grad." + n: p.grad for n, p in model.named_parameters()})
    tensors.update({n: t.double() for n, t in inputs.items()})
    tensors.update({"grad." + n: t.grad for n, t in inputs.items() if t.requires_grad})
    write_safetensors(os.path.join(OUT, file), tensors)


def temporal_shift(x, frames, fold_div=8):
    """TSM: the first C/8 channels of each frame come from the next frame, the next C/8 from the
    previous one, zero at the clip's ends."""
    nt, c, h, w = x.shape
    x = x.view(nt // frames, frames, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


class FrameCNN(torch.nn.Module):
    """Three stride-2 3x3 conv-BN-ReLU layers with a temporal shift before the second and third,
    a global average per frame, then max over each clip's frames."""

    def __init__(self, widths, frames):
        super().__init__()
        self.frames = frames
        inp = 3
        for i, width in enumerate(widths):
            setattr(self, f"conv{i + 1}", torch.nn.Conv2d(inp, width, 3, 2, 1, bias=False))
            setattr(self, f"bn{i + 1}", torch.nn.BatchNorm2d(width))
            inp = width
        self.count = len(widths)

    def frame_features(self, clips):
        """[N, T, C]: every frame's features before the max over the clip."""
        n, t = clips.shape[:2]
        x = clips.reshape(n * t, *clips.shape[2:])
        for i in range(self.count):
            if i > 0:
                x = temporal_shift(x, self.frames)
            x = torch.relu(getattr(self, f"bn{i + 1}")(getattr(self, f"conv{i + 1}")(x)))
        return x.mean((2, 3)).view(n, t, -1)

    def forward(self, clips):
        return self.frame_features(clips).max(1).values


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)

    model = ResDAVEnet(mels=40, stem=8, widths=[8, 12, 16, 16], blocks=[2, 1, 1, 1], width=9).double()
    randomize(model, 3)
    torch.manual_seed(4)
    lengths = torch.tensor([37, 20, 9])
    mel = f32(torch.randn(3, 40, 37))
    mel = (mel * (torch.arange(37).view(1, 1, -1) < lengths.view(-1, 1, 1)).double()).requires_grad_()
    forward_backward_fixture(model, {"mel": mel, "lengths": lengths}, "resdavenet.safetensors")

    model = FrameCNN([8, 16, 16], frames=4).double()
    randomize(model, 5)
    torch.manual_seed(6)
    clips = f32(torch.randn(2, 4, 3, 24, 24)).requires_grad_()
    forward_backward_fixture(model, {"clips": clips}, "frame_cnn.safetensors")

    resnet = torchvision.models.resnet18().double()
    with torch.no_grad():
        for name, t in resnet.state_dict().items():
            if not name.endswith("num_batches_tracked"):
                t.copy_(fill(name, list(t.shape)))
    torch.manual_seed(7)
    images = f32(torch.randn(2, 3, 64, 64))
    resnet.eval()
    with torch.no_grad():
        evaluated = resnet(images)
        resnet.train()
        trained = resnet(images)
    write_safetensors(os.path.join(OUT, "resnet18.safetensors"), {
        "images": images, "logits.eval": evaluated, "logits.train": trained,
        "after.layer4.1.bn2.running_mean": resnet.layer4[1].bn2.running_mean,
        "after.layer4.1.bn2.running_var": resnet.layer4[1].bn2.running_var,
        "check.layer3.0.downsample.0.weight": fill("layer3.0.downsample.0.weight", [256, 128, 1, 1])[:4],
    })
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "fixtures in", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
