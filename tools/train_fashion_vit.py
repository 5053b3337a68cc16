"""Train a small DeiT-style ViT on Fashion-MNIST and export the test fixture in tests/data/fashion_vit/
(see docs/fixture.md).

    nice -n 10 /usr/bin/python3 tools/train_fashion_vit.py       # train, evaluate, export
    /usr/bin/python3 tools/train_fashion_vit.py --export-only    # re-export from /tmp/fashion_vit.pt

The model follows timm's VisionTransformer (module names included: patch_embed.proj, cls_token, pos_embed,
blocks.N.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2, norm, head), so its ONNX export has the node
patterns of a real DeiT. Training recipe, data loading and augmentation are train_fashion_evit.py's.
Needs Debian's python3-torch, python3-onnx, python3-numpy and dataset-fashion-mnist. CPU only.
"""

import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fashion_evit as fixture  # noqa: E402

OUT_DIR = os.path.join(fixture.REPO, "tests", "data", "fashion_vit")
RES = 28  # the raw Fashion-MNIST size: no resize
OPSET = 13  # LayerNorm exports decomposed (LayerNormalization is opset 17), GELU in its erf form
# dim, depth, heads, mlp ratio, patch size, classes
CONFIG = {"dim": 64, "depth": 4, "heads": 4, "mlp_ratio": 4, "patch": 7, "classes": 10, "ln_eps": 1e-6}


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_ratio * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, D, H, W] -> [B, H*W, D]


class VisionTransformer(nn.Module):
    def __init__(self, dim, depth, heads, mlp_ratio, patch, classes, ln_eps):
        super().__init__()
        tokens = (RES // patch) ** 2 + 1
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, ln_eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=ln_eps)
        self.head = nn.Linear(dim, classes)
        # timm's initialization: truncated normal (std 0.02) for tokens and Linear weights, zero biases
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.blocks(x + self.pos_embed)
        return self.head(self.norm(x)[:, 0])


def build():
    return VisionTransformer(**CONFIG)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def write_subset(out_dir, calib_count=256, test_count=1000):
    """The first images of each split as gzip IDX files with Debian's names, so a test can read them with the
    same loader as /usr/share/datasets/fashion-mnist: the calibration images of docs/quant-quality.md and a
    test subset. gzip without a timestamp, so the files are reproducible byte for byte."""
    os.makedirs(out_dir, exist_ok=True)
    for prefix, count in (("train", calib_count), ("t10k", test_count)):
        for kind, magic in (("images-idx3", 3), ("labels-idx1", 1)):
            name = "%s-%s-ubyte.gz" % (prefix, kind)
            with gzip.open(os.path.join(fixture.DATA_DIR, name), "rb") as f:
                data = f.read()
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(magic)]
            item = int(np.prod(dims[1:])) if magic == 3 else 1
            body = data[4 + 4 * magic:4 + 4 * magic + count * item]
            header = data[:4] + count.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims[1:])
            with open(os.path.join(out_dir, name), "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
                    f.write(header + body)


def export(model, meta):
    os.makedirs(OUT_DIR, exist_ok=True)
    model.eval()
    x_test, y_test = fixture.load_split("test")
    acc, all_logits = fixture.evaluate(model, x_test, y_test, res=RES)
    print("test accuracy (10,000 images): %.4f" % acc, flush=True)

    x_ref = fixture.write_reference_tensors(model, x_test, y_test, all_logits, OUT_DIR, RES)

    onnx_path = os.path.join(OUT_DIR, "model.onnx")
    torch.onnx.export(model, x_ref[:1].clone(), onnx_path, opset_version=OPSET, input_names=["input"],
                      output_names=["logits"], do_constant_folding=True, export_params=True,
                      training=torch.onnx.TrainingMode.EVAL)
    _, ops = fixture.onnx_summary(onnx_path)
    print("ONNX op types: " + ", ".join("%s x%d" % kv for kv in sorted(ops.items())), flush=True)
    write_subset(os.path.join(OUT_DIR, "subset"))

    classes = CONFIG["classes"]
    ref = {
        "description": "DeiT-style ViT (tools/train_fashion_vit.py) trained on Fashion-MNIST; reference inputs "
                       "and PyTorch outputs for vitsim's ONNX import and quantization tests",
        "model": dict(CONFIG, input_shape=[1, 3, RES, RES], params=count_params(model), class_names=fixture.CLASSES),
        "onnx": {"file": "model.onnx", "opset": OPSET, "input": "input", "output": "logits", "batch": 1,
                 "do_constant_folding": True, "op_types": ops},
        "files": fixture.reference_files([3, RES, RES], int(x_test.shape[0]), classes),
        "preprocessing": {
            "source": fixture.DATA_DIR + "/t10k-images-idx3-ubyte.gz (uint8 28x28, gzip IDX)",
            "steps": ["x = uint8 / 255.0 (float32)", "no resize (28x28)", "x = (x - 0.2860) / 0.3530",
                      "replicate the single channel to 3 channels"],
            "mean": fixture.MEAN, "std": fixture.STD, "resolution": RES,
        },
        "training": meta,
        "test_accuracy": acc,
        "test_images": int(x_test.shape[0]),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
    }
    import onnx
    ref["onnx_package_version"] = onnx.__version__
    with open(os.path.join(OUT_DIR, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(OUT_DIR) for f in files)
    print("wrote %s (%.2f MB)" % (OUT_DIR, total / 1e6), flush=True)


def export_variant(out_dir, seed):
    """The other export forms the ONNX importer must recognize, on an untrained model (seeded, every parameter
    perturbed so LayerNorm affine parameters and biases are not trivial): opset 17, where LayerNorm exports as
    one LayerNormalization node, and GELU in its tanh form. Writes model.onnx, input.bin (the first test image
    as fed to the model) and output.bin (PyTorch's logits)."""
    torch.manual_seed(seed)
    model = build()
    for block in model.blocks:
        block.mlp.act = nn.GELU(approximate="tanh")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    x_test, _ = fixture.load_split("test")
    x = fixture.preprocess(x_test[:1], RES)
    with torch.no_grad():
        logits = model(x)
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, "input.bin"))
    logits.numpy().astype("<f4").tofile(os.path.join(out_dir, "output.bin"))
    path = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(model, x, path, opset_version=17, input_names=["input"], output_names=["logits"],
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    _, ops = fixture.onnx_summary(path)
    print("ONNX op types: " + ", ".join("%s x%d" % kv for kv in sorted(ops.items())), flush=True)


def main():
    def variant_arguments(ap):
        ap.add_argument("--export-variant", action="store_true",
                        help="only export the untrained opset-17 / tanh-GELU variant to --out")
        ap.add_argument("--out", default="/tmp/fashion_vit_variant")

    args = fixture.parse_args(__doc__, epochs=1, state="/tmp/fashion_vit.pt", add_arguments=variant_arguments)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    if args.export_variant:
        return export_variant(args.out, args.seed)
    model, meta = fixture.train_or_load(args, build, RES, "tools/train_fashion_vit.py")
    if not args.no_export:
        export(model, meta)


if __name__ == "__main__":
    main()
