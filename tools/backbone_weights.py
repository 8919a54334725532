#!/usr/bin/python3
"""Converts torchvision ResNet weights (.pth) to the safetensors file that
`sluice spoken-moments train --backbone resnetNN --backbone-weights FILE` and
`ResNet(.resnetNN, contentsOf:)` read.

    /usr/bin/python3 tools/backbone_weights.py IN.pth OUT.safetensors [--arch resnet18|resnet34|resnet50]
        [--drop-fc] [--unsafe-pickle]

Needs Debian's python3-torch (`tools/install-deps.sh python3-torch`), not torchvision.

IN is a state_dict, or a dict holding one under 'state_dict' or 'model', as torch.load reads it
with weights_only=True (nothing in the file runs). A whole pickled model needs --unsafe-pickle,
which lets the file run code: only for files you trust. A prefix before torchvision's names
('module.' from DataParallel, 'backbone.', ...) is stripped, and tensors outside it are left out.

The architecture comes from the keys (or --arch) and every tensor is checked against it: a missing,
unknown or mis-shaped tensor stops the conversion with the file and key named. OUT holds float32
tensors in torchvision's names, `num_batches_tracked` left out; the classifier `fc` is kept (a
backbone ignores it; `ResNet(contentsOf:)` builds its classifier from it) unless --drop-fc.
OUT.partial is written first and renamed, so OUT is never half written.
"""
import argparse
import os
import pickle
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fixtures import write_safetensors  # noqa: E402

ARCHS = ("resnet18", "resnet34", "resnet50")


class Refused(Exception):
    pass


def expected_shapes(arch):
    """torchvision's state_dict shapes for `arch` without `fc` and `num_batches_tracked`, and the feature width."""
    blocks = [2, 2, 2, 2] if arch == "resnet18" else [3, 4, 6, 3]
    bottleneck = arch == "resnet50"
    shapes = {}

    def conv_bn(conv, bn, cin, cout, k):
        shapes[conv + ".weight"] = (cout, cin, k, k)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{bn}.{name}"] = (cout,)

    conv_bn("conv1", "bn1", 3, 64, 7)
    cin = 64
    for stage, count in enumerate(blocks):
        width = 64 << stage
        cout = width * 4 if bottleneck else width
        for block in range(count):
            p = f"layer{stage + 1}.{block}."
            if bottleneck:
                conv_bn(p + "conv1", p + "bn1", cin, width, 1)
                conv_bn(p + "conv2", p + "bn2", width, width, 3)
                conv_bn(p + "conv3", p + "bn3", width, cout, 1)
            else:
                conv_bn(p + "conv1", p + "bn1", cin, width, 3)
                conv_bn(p + "conv2", p + "bn2", width, width, 3)
            if block == 0 and (stage > 0 or cin != cout):
                conv_bn(p + "downsample.0", p + "downsample.1", cin, cout, 1)
            cin = cout
    return shapes, cin


def guess_arch(keys):
    if "layer1.0.conv3.weight" in keys:
        return "resnet50"
    return "resnet34" if "layer3.5.conv1.weight" in keys else "resnet18"


def load_state(path, unsafe_pickle):
    """The file's tensors by name, whatever wraps them."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError) as error:
        if not unsafe_pickle:
            reason = str(error).splitlines()[0].split("error: ")[-1]
            raise Refused(f"{path}: not a plain state_dict (torch.load with weights_only=True: {reason}); if it is "
                          "a whole pickled model you trust, add --unsafe-pickle (that runs its code)")
        obj = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and not isinstance(obj[key], torch.Tensor):
            obj = obj[key]
            break
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise Refused(f"{path}: holds a {type(obj).__name__}, not a state_dict")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def convert(path, arch=None, drop_fc=False, unsafe_pickle=False):
    """(arch, tensors in torchvision's names, notes) for the checkpoint at `path`; raises Refused."""
    found = load_state(path, unsafe_pickle)
    anchor = "layer1.0.conv1.weight"
    prefixes = sorted(k[: -len(anchor)] for k in found if k.endswith(anchor))
    if not prefixes:
        raise Refused(f"{path}: no '{anchor}' among its {len(found)} tensors: not a torchvision ResNet "
                      f"(first keys: {', '.join(list(found)[:4]) or 'none'})")
    prefix = prefixes[0]
    state = {k[len(prefix):]: v for k, v in found.items() if k.startswith(prefix)}
    notes = [f"prefix '{prefix}' stripped"] if prefix else []
    if len(state) < len(found):
        notes.append(f"{len(found) - len(state)} tensors outside it left out")
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    guessed = guess_arch(state)
    arch = arch or guessed
    shapes, width = expected_shapes(arch)
    looks = "" if guessed == arch else f" (its keys look like {guessed})"

    fc = {k: v for k, v in state.items() if k == "fc" or k.startswith("fc.")}
    if drop_fc:
        notes.append(f"{len(fc)} fc tensors dropped")
    elif fc:
        weight, bias = fc.get("fc.weight"), fc.get("fc.bias")
        if set(fc) != {"fc.weight", "fc.bias"} or weight.dim() != 2 or tuple(bias.shape) != (weight.shape[0],):
            raise Refused(f"{path}: its classifier ({', '.join(f'{prefix}{k} {list(v.shape)}' for k, v in fc.items())}) "
                          "is not one Linear layer: add --drop-fc to keep only the backbone")
        shapes.update({"fc.weight": (weight.shape[0], width), "fc.bias": (weight.shape[0],)})

    for key in state:
        if key not in shapes and not (drop_fc and key in fc):
            raise Refused(f"{path}: '{prefix}{key}' is not a tensor of torchvision's {arch}"
                          + (looks or " (ResNet-101/152, wide ResNets and ResNeXt are not supported)"))
    out = {}
    for key, shape in shapes.items():
        if key not in state:
            raise Refused(f"{path}: '{prefix}{key}' is missing ({arch} needs shape {list(shape)}){looks}")
        tensor = state[key]
        if tuple(tensor.shape) != shape:
            raise Refused(f"{path}: '{prefix}{key}' has shape {list(tensor.shape)}, {arch} needs {list(shape)}{looks}")
        if tensor.is_quantized or not tensor.is_floating_point():
            raise Refused(f"{path}: '{prefix}{key}' is {tensor.dtype}: a float checkpoint is needed")
        out[key] = tensor.detach().to(torch.float32).contiguous()
    return arch, out, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="torchvision .pth")
    parser.add_argument("output", help="safetensors file to write")
    parser.add_argument("--arch", choices=ARCHS, help="check against this one (default: from the keys)")
    parser.add_argument("--drop-fc", action="store_true", help="leave out the classifier fc.*")
    parser.add_argument("--unsafe-pickle", action="store_true", help="allow a whole pickled model (runs its code)")
    args = parser.parse_args(argv)
    try:
        arch, tensors, notes = convert(args.input, args.arch, args.drop_fc, args.unsafe_pickle)
    except (Refused, OSError) as error:
        print(f"backbone_weights: {error}", file=sys.stderr)
        return 1
    partial = args.output + ".partial"
    try:
        write_safetensors(partial, tensors, metadata={"arch": arch, "source": os.path.basename(args.input)})
        os.replace(partial, args.output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    parameters = sum(t.numel() for k, t in tensors.items() if not k.endswith(("running_mean", "running_var")))
    classes = f", fc with {tensors['fc.weight'].shape[0]} classes" if "fc.weight" in tensors else ", no fc"
    print(f"wrote {args.output}: {arch}, {len(tensors)} tensors, {parameters:,} parameters{classes}"
          + "".join(f"; {note}" for note in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
