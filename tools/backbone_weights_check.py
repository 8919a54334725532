#!/usr/bin/python3
"""Checks tools/backbone_weights.py against torchvision's own ResNets.

    /usr/bin/python3 tools/backbone_weights_check.py [--pth FILE.pth ...]

Needs Debian's python3-torch and python3-torchvision (`tools/install-deps.sh python3-torch
python3-torchvision`); downloads nothing. torchvision's resnet18/34/50, with every weight and
BatchNorm statistic drawn at random, are saved the ways checkpoints come (a state_dict, the legacy
format, {'state_dict': ...}, DataParallel's 'module.' under {'model': ...}, half precision, a
whole pickled model) and converted. The output is read back by its own reader here: every tensor
must be float32 and equal bit for bit to the source (float32 of a half one), and torchvision's
model holding the read-back tensors must give the same logits as the original. Files that are not
a torchvision ResNet must be refused with the key named and nothing written. --pth runs the round
trip on real checkpoints too (say ImageNet weights got elsewhere). Ends with 'N passed, N failed'.
"""
import argparse
import contextlib
import io
import json
import os
import struct
import sys
import tempfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backbone_weights  # noqa: E402

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok    " if ok else "FAIL  ") + name + (f": {detail}" if detail else ""))


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header, data = json.loads(f.read(size)), f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", f"{name} is {entry['dtype']}"
        start, end = entry["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype="<f4").copy()).reshape(entry["shape"])
    return out


def random_resnet(arch, seed, classes=1000):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(num_classes=classes)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
            elif not name.endswith("num_batches_tracked"):
                tensor.normal_(0, 0.05 if name.endswith("weight") and tensor.dim() > 1 else 0.5)
    return model.eval()


def logits(arch, state):
    """torchvision's `arch` holding `state`, in eval mode, on a fixed input."""
    model = random_resnet(arch, 99, classes=state["fc.weight"].shape[0])
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    torch.manual_seed(1)
    with torch.no_grad():
        return model.eval()(torch.rand(2, 3, 64, 64))


def round_trip(label, pth, source, arch, tmp, flags=()):
    """Converts `pth` and checks its tensors against `source` (a state_dict) and the logits of `arch` with them."""
    out = os.path.join(tmp, "out.safetensors")
    if backbone_weights.main([pth, out, *flags]) != 0:
        return check(label, False, "refused")
    read = read_safetensors(out)
    expected = {k: v.float() for k, v in source.items() if not k.endswith("num_batches_tracked")}
    if "--drop-fc" in flags:
        expected = {k: v for k, v in expected.items() if not k.startswith("fc.")}
    names_ok = set(read) == set(expected)
    exact = names_ok and all(torch.equal(read[k], expected[k]) for k in expected)
    check(label + ": every tensor, bit for bit", exact, "" if names_ok else f"names differ: {set(read) ^ set(expected)}")
    if "fc.weight" in read:
        same = torch.equal(logits(arch, read), logits(arch, {k: v.float() for k, v in source.items()}))
        check(label + ": torchvision's logits from the file", same)
    check(label + ": no .partial left", not os.path.exists(out + ".partial"))
    return read


def refused(label, pth, tmp, needle, flags=()):
    out = os.path.join(tmp, "refused.safetensors")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = backbone_weights.main([pth, out, *flags])
    message = err.getvalue().strip()
    check(label, status == 1 and needle in message and not os.path.exists(out) and not os.path.exists(out + ".partial"),
          message)


def synthetic(tmp):
    for arch, seed in (("resnet18", 18), ("resnet34", 34), ("resnet50", 50)):
        model = random_resnet(arch, seed)
        state = model.state_dict()
        path = os.path.join(tmp, f"{arch}.pth")
        torch.save(state, path)
        round_trip(f"{arch} state_dict", path, state, arch, tmp)
        if arch == "resnet18":
            variants = {
                "legacy format": (state, {"_use_new_zipfile_serialization": False}),
                "{'state_dict': ..., 'epoch'}": ({"state_dict": state, "epoch": 3}, {}),
                "DataParallel under {'model': ...}": ({"model": {"module." + k: v for k, v in state.items()}}, {}),
            }
            for label, (obj, kwargs) in variants.items():
                torch.save(obj, path, **kwargs)
                round_trip(f"resnet18 {label}", path, state, arch, tmp)
            half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
            torch.save(half, path)
            round_trip("resnet18 float16", path, half, arch, tmp)
            torch.save(state, path)
            round_trip("resnet18 --drop-fc", path, state, arch, tmp, ["--drop-fc"])
            torch.save(model, path)
            refused("resnet18 whole pickled model without --unsafe-pickle", path, tmp, "--unsafe-pickle")
            round_trip("resnet18 whole pickled model, --unsafe-pickle", path, state, arch, tmp, ["--unsafe-pickle"])

            def broken(label, change, needle, flags=()):
                edited = dict(state)
                change(edited)
                torch.save(edited, path)
                refused(label, path, tmp, needle, flags)
            broken("missing tensor", lambda s: s.pop("layer4.1.bn2.running_var"), "'layer4.1.bn2.running_var' is missing")
            broken("mis-shaped tensor", lambda s: s.update({"layer2.0.conv1.weight": torch.zeros(64, 128, 3, 3)}),
                   "'layer2.0.conv1.weight' has shape [64, 128, 3, 3], resnet18 needs [128, 64, 3, 3]")
            broken("integer tensor", lambda s: s.update({"bn1.bias": torch.zeros(64, dtype=torch.int64)}), "torch.int64")
            broken("fc that is not one Linear", lambda s: s.update({"fc.1.weight": torch.zeros(3, 3)}), "--drop-fc")
            broken("no ResNet", lambda s: [s.pop(k) for k in list(s) if k.startswith("layer1.0.")], "not a torchvision ResNet")
        if arch == "resnet34":
            refused("--arch resnet18 on a resnet34", path, tmp, "'layer1.2.conv1.weight' is not a tensor of torchvision's resnet18 "
                    "(its keys look like resnet34)", ["--arch", "resnet18"])
        if arch == "resnet50":
            state["layer3.6.conv1.weight"] = torch.zeros(256, 1024, 1, 1)  # what ResNet-101 has next
            torch.save(state, path)
            refused("a deeper ResNet", path, tmp, "'layer3.6.conv1.weight' is not a tensor of torchvision's resnet50")
        os.remove(path)


def real(pth, tmp):
    found = backbone_weights.load_state(pth, unsafe_pickle=False)
    anchor = "layer1.0.conv1.weight"
    prefix = next(k for k in found if k.endswith(anchor))[: -len(anchor)]
    source = {k[len(prefix):]: v for k, v in found.items() if k.startswith(prefix)}
    arch = backbone_weights.guess_arch(source)
    round_trip(f"{pth} ({arch})", pth, source, arch, tmp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pth", nargs="*", default=[], help="real checkpoints to round-trip as well")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("torch", torch.__version__, "torchvision", torchvision.__version__)
    with tempfile.TemporaryDirectory() as tmp:
        synthetic(tmp)
        for pth in args.pth:
            real(pth, tmp)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
