"""Train the tiny EfficientViT ("fashion" preset of tools/evit_torch.py) on Fashion-MNIST and export the
test fixture in tests/data/fashion_evit/ (see docs/fixture.md).

    /usr/bin/python3 tools/train_fashion_evit.py            # train, evaluate, export (about 25 min, 2 cores)
    /usr/bin/python3 tools/train_fashion_evit.py --export-only --state /tmp/fashion_evit.pt

Needs Debian's python3-torch, python3-onnx, python3-numpy and dataset-fashion-mnist. CPU only.
The trained state dict goes to --state (default /tmp/fashion_evit.pt, outside the repository).
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evit_torch  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "tests", "data", "fashion_evit")
MEAN, STD = 0.2860, 0.3530
RES = 64
N_REF = 16
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]


def read_idx(path):
    """Reads a gzip IDX file (big-endian header) into a numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    assert zero == 0 and dtype_code == 0x08, "expected an unsigned-byte IDX file: " + path
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    assert arr.size == int(np.prod(dims))
    return arr.reshape(dims)


def load_split(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA_DIR, prefix + "-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DATA_DIR, prefix + "-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def preprocess(u8, res=RES):
    """uint8 [N,28,28] -> float32 [N,3,res,res]: /255, bilinear resize (align_corners=False, no antialias),
    normalize with (MEAN, STD), replicate to 3 channels. Exactly what the model sees at test time."""
    x = u8.to(torch.float32).div(255.0).unsqueeze(1)
    x = F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False)
    x = (x - MEAN) / STD
    return x.expand(-1, 3, -1, -1).contiguous()


def augment(u8, gen):
    """Light augmentation on the raw 28x28 images: random crop after 2-pixel zero padding, horizontal flip."""
    n = u8.shape[0]
    padded = F.pad(u8, (2, 2, 2, 2))
    offs = torch.randint(0, 5, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(u8)
    for i in range(n):
        oy, ox = int(offs[i, 0]), int(offs[i, 1])
        img = padded[i, oy:oy + 28, ox:ox + 28]
        out[i] = img.flip(-1) if flips[i] else img
    return out


def evaluate(model, x_u8, y, batch=500, res=RES):
    model.eval()
    correct, logits_all = 0, []
    with torch.no_grad():
        for i in range(0, x_u8.shape[0], batch):
            logits = model(preprocess(x_u8[i:i + batch], res))
            logits_all.append(logits)
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return correct / x_u8.shape[0], torch.cat(logits_all)


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)  # no weight decay on biases and norm affine params
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def train(args, build_model, res=RES):
    """Builds a model (after seeding) and trains it with the recipe of docs/fixture.md; train_fashion_vit.py
    uses it too."""
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load_split("train")
    x_test, y_test = load_split("test")
    model = build_model()
    print("params: %d" % sum(p.numel() for p in model.parameters()), flush=True)
    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.999))
    n = min(args.train_images, x_train.shape[0]) if args.train_images else x_train.shape[0]
    steps_per_epoch = n // args.batch  # drop the last partial batch
    total = steps_per_epoch * args.epochs
    warmup = min(steps_per_epoch, total // 10)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return args.lr * 0.5 * (1.0 + math.cos(math.pi * t))

    t0 = time.time()
    step = 0
    epoch_seconds = []
    for epoch in range(args.epochs):
        model.train()
        te = time.time()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * args.batch:(b + 1) * args.batch]
            x = preprocess(augment(x_train[idx], gen), res)
            y = y_train[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss)
            correct += int((logits.argmax(1) == y).sum())
            if args.max_steps and step >= args.max_steps:
                break
            if b % 100 == 0:
                print("  epoch %d step %d/%d loss %.4f lr %.2e (%.1fs)" % (
                    epoch + 1, b, steps_per_epoch, float(loss), lr_at(step), time.time() - te), flush=True)
        nb = b + 1
        epoch_seconds.append(round(time.time() - te, 1))
        msg = "epoch %d/%d: train loss %.4f, train acc %.4f, %.1fs" % (
            epoch + 1, args.epochs, loss_sum / nb, correct / (nb * args.batch), time.time() - te)
        if args.eval_every and (epoch + 1) % args.eval_every == 0 and epoch + 1 < args.epochs:
            acc, _ = evaluate(model, x_test, y_test, res=res)
            msg += ", test acc %.4f" % acc
        print(msg, flush=True)
        if args.max_steps and step >= args.max_steps:
            break
    train_seconds = time.time() - t0
    return model, train_seconds, step, epoch_seconds


def onnx_summary(path):
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = {}
    for node in m.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return m, ops


def write_reference_tensors(model, x_test, y_test, all_logits, out_dir, res):
    """The reference inputs and outputs: the first N_REF test images, run one at a time (batch 1, like the
    ONNX), their labels and logits, and the logits of the whole test set. Returns the images."""
    x_ref = preprocess(x_test[:N_REF], res)
    y_ref = y_test[:N_REF].to(torch.int32)
    with torch.no_grad():
        logits_ref = torch.cat([model(x_ref[i:i + 1]) for i in range(N_REF)])
    for fname, t in (("input.bin", x_ref), ("labels.bin", y_ref), ("logits.bin", logits_ref),
                     ("test_logits.bin", all_logits)):
        arr = t.detach().numpy()
        arr = arr.astype("<f4") if arr.dtype == np.float32 else arr.astype("<i4")
        arr.tofile(os.path.join(out_dir, fname))
    return x_ref


def reference_files(image_shape, n_test, n_classes):
    """The "files" entry of reference.json: what write_reference_tensors wrote."""
    return {
        "input": {"file": "input.bin", "dtype": "float32", "byte_order": "little", "shape": [N_REF] + image_shape,
                  "what": "the first %d test images exactly as fed to the model (NCHW)" % N_REF},
        "labels": {"file": "labels.bin", "dtype": "int32", "byte_order": "little", "shape": [N_REF],
                   "what": "their labels"},
        "logits": {"file": "logits.bin", "dtype": "float32", "byte_order": "little", "shape": [N_REF, n_classes],
                   "what": "PyTorch eval-mode logits of input.bin, computed at batch 1"},
        "test_logits": {"file": "test_logits.bin", "dtype": "float32", "byte_order": "little",
                        "shape": [n_test, n_classes],
                        "what": "PyTorch eval-mode logits of all 10,000 test images (batches of 500), "
                                "in the order of t10k-images-idx3-ubyte"},
    }


def train_or_load(args, build_model, res, script, extra_meta=None):
    """--export-only: the model and training record saved at --state; otherwise trains (train()), saves both
    there and returns them."""
    if args.export_only:
        model = build_model()
        model.load_state_dict(torch.load(args.state))
        with open(args.state + ".json") as f:
            return model, json.load(f)
    model, seconds, steps, epoch_seconds = train(args, build_model, res)
    meta = {
        "command": " ".join(["/usr/bin/python3", script] + sys.argv[1:]),
        "epochs": args.epochs, "steps": steps, "batch": args.batch, "optimizer": "AdamW",
        "lr": args.lr, "weight_decay": args.wd,
        "schedule": "linear warmup (one epoch, at most a tenth of the steps) + cosine to 0, per step",
        "label_smoothing": args.label_smoothing, "seed": args.seed, "threads": args.threads,
        "augmentation": "random crop 28x28 from the 2-pixel zero-padded raw image, horizontal flip p=0.5",
        "train_images": args.train_images or 60000, "train_seconds": round(seconds, 1),
        "epoch_seconds": epoch_seconds,
    }
    meta.update(extra_meta or {})
    meta["machine"] = "%d-core CPU (os.cpu_count)" % (os.cpu_count() or 0)
    print("training time: %.1f s" % seconds, flush=True)
    torch.save(model.state_dict(), args.state)
    with open(args.state + ".json", "w") as f:
        json.dump(meta, f, indent=2)
    return model, meta


def export(model, meta, args):
    os.makedirs(OUT_DIR, exist_ok=True)
    model.eval()
    x_test, y_test = load_split("test")
    acc, all_logits = evaluate(model, x_test, y_test)
    print("test accuracy (10,000 images): %.4f" % acc, flush=True)

    x_ref = write_reference_tensors(model, x_test, y_test, all_logits, OUT_DIR, RES)
    onnx_path = os.path.join(OUT_DIR, "model.onnx")
    dummy = x_ref[:1].clone()
    torch.onnx.export(model, dummy, onnx_path, opset_version=13, input_names=["input"],
                      output_names=["logits"], do_constant_folding=True, export_params=True,
                      training=torch.onnx.TrainingMode.EVAL)
    _, ops = onnx_summary(onnx_path)
    print("ONNX op types: " + ", ".join("%s x%d" % kv for kv in sorted(ops.items())), flush=True)

    widths, depths, head_dim, head_widths, n_classes, res = evit_torch.PRESETS["fashion"]
    ref = {
        "description": "EfficientViT-style classifier (tools/evit_torch.py preset 'fashion') trained on "
                       "Fashion-MNIST; reference inputs and PyTorch outputs for vitsim's ONNX import tests",
        "model": {
            "preset": "fashion", "widths": widths, "depths": depths, "head_dim": head_dim,
            "head_widths": head_widths, "n_classes": n_classes, "input_shape": [1, 3, res, res],
            "params": evit_torch.count_params(model), "classes": CLASSES,
        },
        "onnx": {"file": "model.onnx", "opset": 13, "input": "input", "output": "logits",
                 "batch": 1, "do_constant_folding": True, "op_types": ops},
        "files": reference_files([3, RES, RES], int(x_test.shape[0]), n_classes),
        "preprocessing": {
            "source": DATA_DIR + "/t10k-images-idx3-ubyte.gz (uint8 28x28, gzip IDX)",
            "steps": [
                "x = uint8 / 255.0 (float32)",
                "bilinear resize 28x28 -> 64x64: torch.nn.functional.interpolate(mode='bilinear', "
                "align_corners=False), no antialiasing",
                "x = (x - 0.2860) / 0.3530",
                "replicate the single channel to 3 channels",
            ],
            "mean": MEAN, "std": STD, "resolution": RES,
        },
        "training": meta,
        "test_accuracy": acc,
        "test_images": int(x_test.shape[0]),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
    }
    try:
        import onnx
        ref["onnx_package_version"] = onnx.__version__
    except ImportError:
        pass
    with open(os.path.join(OUT_DIR, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, p)) for p in os.listdir(OUT_DIR))
    print("wrote %s (%.2f MB)" % (OUT_DIR, total / 1e6), flush=True)


def parse_args(doc, epochs, state, add_arguments=None):
    """The command line of train(), shared with train_fashion_vit.py (which adds its own options)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=4, help="test accuracy every N epochs (0: only at the end)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (timing runs)")
    ap.add_argument("--train-images", type=int, default=0,
                    help="train on the first N training images only (0: all 60,000)")
    ap.add_argument("--state", default=state, help="where the trained state dict is saved")
    ap.add_argument("--export-only", action="store_true", help="load --state instead of training")
    ap.add_argument("--no-export", action="store_true")
    if add_arguments:
        add_arguments(ap)
    return ap.parse_args()


def main():
    args = parse_args(__doc__, epochs=12, state="/tmp/fashion_evit.pt")

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    model, meta = train_or_load(
        args, lambda: evit_torch.build_preset("fashion"), RES, "tools/train_fashion_evit.py",
        {"train_seconds_note": "wall time on a shared machine: epochs also run by other processes' "
                               "builds take several times longer (about 90-110 s each on 2 idle cores)"})
    if not args.no_export:
        export(model, meta, args)


if __name__ == "__main__":
    main()
