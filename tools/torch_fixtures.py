#!/usr/bin/python3
"""Reference fixtures for the Tensor engine's tests, computed by PyTorch.

Run with Debian's python3 and its torch (`apt-get install -y python3-torch`):
    /usr/bin/python3 tools/torch_fixtures.py
Writes Tests/TensorTests/Fixtures/*.safetensors (BERT's in Tests/ModelsTests/Fixtures) (little-endian F32, the Hugging Face layout),
written here by hand so the Swift reader is checked against a file it did not write.
"""
import json
import math
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorTests", "Fixtures")
# BERT is a model, so its fixtures sit beside the Models tests.
MODELS_OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures")


def write_safetensors(path, tensors, metadata=None, integer_tensors=None):
    """F32 tensors (converted), plus `integer_tensors` kept as I64."""
    header, blobs, offset = {}, [], 0
    entries = [(n, t.detach().to(torch.float32), "F32") for n, t in tensors.items()]
    entries += [(n, t.detach().to(torch.int64), "I64") for n, t in (integer_tensors or {}).items()]
    for name, t, dtype in entries:
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def bert_layer_fixture():
    """One post-norm BERT layer (HF BertLayer semantics, dropout off), forward and backward,
    computed in float64 from float32-representable inputs."""
    torch.manual_seed(0)
    batch, length, hidden, heads, inter = 2, 6, 32, 4, 64
    eps = 1e-12

    def param(*shape, scale=0.2):
        return (torch.randn(*shape) * scale).to(torch.float64).requires_grad_()

    names = {}
    for part in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
        names[part + ".weight"] = param(hidden, hidden)
        names[part + ".bias"] = param(hidden)
    names["attention.output.LayerNorm.weight"] = (1 + torch.randn(hidden) * 0.1).double().requires_grad_()
    names["attention.output.LayerNorm.bias"] = param(hidden, scale=0.1)
    names["intermediate.dense.weight"] = param(inter, hidden)
    names["intermediate.dense.bias"] = param(inter)
    names["output.dense.weight"] = param(hidden, inter)
    names["output.dense.bias"] = param(hidden)
    names["output.LayerNorm.weight"] = (1 + torch.randn(hidden) * 0.1).double().requires_grad_()
    names["output.LayerNorm.bias"] = param(hidden, scale=0.1)

    x = torch.randn(batch, length, hidden).double().requires_grad_()
    valid = torch.ones(batch, length)
    valid[1, 4:] = 0
    mask = ((1 - valid) * -1e9).view(batch, 1, 1, length).double()
    probe = torch.randn(batch, length, hidden).double()

    def linear(t, name):
        return t @ names[name + ".weight"].T + names[name + ".bias"]

    def split(t):
        return t.view(batch, length, heads, hidden // heads).permute(0, 2, 1, 3)

    q = split(linear(x, "attention.self.query"))
    k = split(linear(x, "attention.self.key"))
    v = split(linear(x, "attention.self.value"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(hidden // heads) + mask
    context = (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(batch, length, hidden)
    ln = torch.nn.functional.layer_norm
    h = ln(linear(context, "attention.output.dense") + x, (hidden,),
           names["attention.output.LayerNorm.weight"], names["attention.output.LayerNorm.bias"], eps)
    ffn = linear(torch.nn.functional.gelu(linear(h, "intermediate.dense")), "output.dense")
    out = ln(ffn + h, (hidden,), names["output.LayerNorm.weight"], names["output.LayerNorm.bias"], eps)
    (out * probe).sum().backward()

    tensors = dict(names)
    tensors.update({"input": x, "mask": mask, "probe": probe, "output": out, "grad.input": x.grad})
    tensors.update({"grad." + n: t.grad for n, t in names.items()})
    write_safetensors(os.path.join(MODELS_OUT, "bert_layer.safetensors"), tensors,
                      {"hidden": str(hidden), "heads": str(heads), "intermediate": str(inter), "eps": str(eps)})


def optimizer_fixture():
    """Three steps of torch's AdamW, Adam (L2 weight decay) and SGD (momentum) on fixed gradients."""
    torch.manual_seed(1)
    start = torch.randn(10)
    grads = [torch.randn(10) for _ in range(3)]
    results = {"start": start}
    for i, g in enumerate(grads):
        results[f"grad{i}"] = g
    for label, make in [("adamw", lambda p: torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
                        ("adam", lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
                        ("sgd", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01))]:
        p = start.clone().requires_grad_()
        opt = make(p)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        results[label] = p.detach()
    write_safetensors(os.path.join(OUT, "optimizers.safetensors"), results)


def convolution_fixture():
    """conv2d (stride, padding) -> BatchNorm2d (training) -> ReLU, and conv1d, forward and backward."""
    torch.manual_seed(2)
    x = torch.randn(2, 3, 7, 6).double().requires_grad_()
    weight = (torch.randn(4, 3, 3, 2) * 0.3).double().requires_grad_()
    bias = (torch.randn(4) * 0.1).double().requires_grad_()
    bn = torch.nn.BatchNorm2d(4).double()
    with torch.no_grad():
        bn.weight.copy_(1 + 0.1 * torch.randn(4))
        bn.bias.copy_(0.1 * torch.randn(4))
    bn.train()
    out2d = torch.relu(bn(torch.nn.functional.conv2d(x, weight, bias, stride=(2, 1), padding=(1, 1))))
    probe2d = torch.randn(out2d.shape).double()
    signal = torch.randn(2, 3, 9).double().requires_grad_()
    weight1d = (torch.randn(5, 3, 3) * 0.3).double().requires_grad_()
    bias1d = (torch.randn(5) * 0.1).double().requires_grad_()
    out1d = torch.nn.functional.conv1d(signal, weight1d, bias1d, stride=2, padding=1)
    probe1d = torch.randn(out1d.shape).double()
    ((out2d * probe2d).sum() + (out1d * probe1d).sum()).backward()
    write_safetensors(os.path.join(OUT, "convolution.safetensors"), {
        "x": x, "conv.weight": weight, "conv.bias": bias, "bn.weight": bn.weight, "bn.bias": bn.bias,
        "out2d": out2d, "probe2d": probe2d, "bn.running_mean": bn.running_mean, "bn.running_var": bn.running_var,
        "grad.x": x.grad, "grad.conv.weight": weight.grad, "grad.conv.bias": bias.grad,
        "grad.bn.weight": bn.weight.grad, "grad.bn.bias": bn.bias.grad,
        "signal": signal, "conv1d.weight": weight1d, "conv1d.bias": bias1d, "out1d": out1d, "probe1d": probe1d,
        "grad.signal": signal.grad, "grad.conv1d.weight": weight1d.grad, "grad.conv1d.bias": bias1d.grad,
    })


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    bert_layer_fixture()
    optimizer_fixture()
    convolution_fixture()
    print("torch", torch.__version__, "fixtures written to", os.path.normpath(OUT))
