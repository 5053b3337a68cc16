#!/usr/bin/python3
"""What the 8-bit grid alone costs the trained ViT fixture (docs/quantization.md).

Runs the fixture's PyTorch model (tools/train_fashion_vit.py, from its state dict) with fake quantization
at every tensor that vitsim's recipes quantize: weights 8-bit per output channel (symmetric), and 8-bit
per-tensor min-max (asymmetric, calibrated on the committed 256 training images) on the position-embedded
tokens, the LayerNorm outputs, the qkv output, the attention scores, the attention x V output, the
projection, fc1, GELU and fc2 outputs, the Linear inputs and the residual adds; the Softmax output is
rounded to 8-bit uniform codes. Everything else is FP32: no integer LayerNorm, exp, GELU or requantizer.

It prints the top-1 accuracy on the committed first 1,000 test images with every group on, with each group
left out and with each group alone, then the SQNR of a few block-0 tensors against FP32 (200 images), to
compare with `vitsim quantize ... --eval fashion-mnist`'s per-layer SQNR, which includes vitsim's integer
operators. Where the two part, the loss is in vitsim's integer pipeline, not in the grid.

    /usr/bin/python3 tools/vit_fakequant_probe.py --state /tmp/fashion_vit5.pt

Needs Debian's python3-torch and python3-numpy; the state dict comes from train_fashion_vit.py (not
committed; docs/fixture.md).
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fashion_vit  # noqa: E402
from train_fashion_vit import fixture  # noqa: E402  (train_fashion_evit.py: IDX reader, preprocessing)

SUBSET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "fashion_vit", "subset")
GROUPS = ["qkv", "scores", "softmax", "av", "proj", "linear_in", "fc1", "gelu", "fc2", "residual", "layernorm"]


def images(name, count):
    u8 = torch.from_numpy(fixture.read_idx(os.path.join(SUBSET, name))[:count].copy())
    return fixture.preprocess(u8, res=28)  # the identity resize at 28, as vitsim's loader


def labels(name, count):
    return torch.from_numpy(fixture.read_idx(os.path.join(SUBSET, name))[:count].astype(np.int64))


class FakeQuant:
    """Min-max observer while calibrating, then 8-bit per-tensor fake quantization of the enabled groups."""

    def __init__(self):
        self.ranges, self.calibrating, self.enabled, self.record = {}, True, set(), None

    def __call__(self, group, name, x):
        if self.record is not None:
            self.record[name] = x.clone()
        if self.calibrating:
            lo, hi = self.ranges.get(name, (0.0, 0.0))
            self.ranges[name] = (min(lo, x.min().item()), max(hi, x.max().item()))
            return x
        if group not in self.enabled:
            return x
        lo, hi = self.ranges[name]
        step = max(hi - lo, 1e-8) / 255
        zero = round(-lo / step)
        return (torch.clamp(torch.round(x / step) + zero, 0, 255) - zero) * step


def instrument(model, fq):
    def attention(self, x):
        b, n, c = x.shape
        p = self.prefix
        qkv = fq("qkv", p + "qkv", self.qkv(x)).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = fq("scores", p + "scores", (q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        if "softmax" in fq.enabled and not fq.calibrating:
            attn = torch.round(attn * 255).clamp(0, 255) / 255
        out = fq("av", p + "av", attn @ v).transpose(1, 2).reshape(b, n, c)
        return fq("proj", p + "proj", self.proj(fq("linear_in", p + "proj_in", out)))

    def mlp(self, x):
        p = self.prefix
        hidden = fq("fc1", p + "fc1", self.fc1(fq("linear_in", p + "fc1_in", x)))
        hidden = fq("gelu", p + "gelu", self.act(hidden))
        return fq("fc2", p + "fc2", self.fc2(fq("linear_in", p + "fc2_in", hidden)))

    def block(self, x):
        p = self.prefix
        x = fq("residual", p + "add0", x + self.attn(fq("layernorm", p + "norm1", self.norm1(x))))
        return fq("residual", p + "add1", x + self.mlp(fq("layernorm", p + "norm2", self.norm2(x))))

    for i, b in enumerate(model.blocks):
        b.prefix = b.attn.prefix = b.mlp.prefix = "blocks.%d." % i
        b.forward = block.__get__(b)
        b.attn.forward = attention.__get__(b.attn)
        b.mlp.forward = mlp.__get__(b.mlp)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            scale = m.weight.data.abs().amax(1, keepdim=True) / 127
            m.weight.data = torch.round(m.weight.data / scale).clamp(-127, 127) * scale

    def forward(x):
        t = model.patch_embed(x)
        t = torch.cat((model.cls_token.expand(len(x), -1, -1), t), 1)
        t = fq("residual", "pos_embed", t + model.pos_embed)
        return model.head(fq("layernorm", "norm", model.norm(model.blocks(t)))[:, 0])

    return forward


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default="/tmp/fashion_vit.pt", help="train_fashion_vit.py's state dict")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = train_fashion_vit.build()
    model.load_state_dict(torch.load(args.state, map_location="cpu"))
    model.eval()
    calib = images("train-images-idx3-ubyte.gz", 256)
    test, truth = images("t10k-images-idx3-ubyte.gz", 1000), labels("t10k-labels-idx1-ubyte.gz", 1000)
    with torch.no_grad():
        fp32 = 100.0 * (model(test).argmax(-1) == truth).float().mean().item()
        fq = FakeQuant()
        forward = instrument(model, fq)
        forward(calib)
        fq.calibrating = False

        def accuracy(enabled):
            fq.enabled = set(enabled)
            return 100.0 * (forward(test).argmax(-1) == truth).float().mean().item()

        print("top-1 on the first 1,000 test images")
        print("  FP32                        %.1f%%" % fp32)
        print("  8-bit weights only          %.1f%%" % accuracy([]))
        print("  every group                 %.1f%%" % accuracy(GROUPS))
        for g in GROUPS:
            print("  %-10s all but it %.1f%%, only it %.1f%%" % (g, accuracy(set(GROUPS) - {g}), accuracy([g])))

        def tensors(enabled):
            fq.enabled, fq.record = set(enabled), {}
            forward(test[:200])
            record, fq.record = fq.record, None
            return record

        reference, quantized = tensors([]), tensors(GROUPS)
        print("SQNR against 8-bit weights only, every group on (200 images; a tensor before its own quantizer)")
        for name in ["blocks.0.norm1", "blocks.0.qkv", "blocks.0.scores", "blocks.0.av", "blocks.0.proj",
                     "blocks.0.add0", "blocks.3.add1", "norm"]:
            a, b = reference[name], quantized[name]
            print("  %-16s %.1f dB" % (name, 10 * math.log10((a ** 2).sum().item() / ((a - b) ** 2).sum().item())))


if __name__ == "__main__":
    main()
