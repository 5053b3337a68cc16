"""Export an EfficientViT zoo preset (untrained, seeded random weights) to ONNX plus a reference input and
the PyTorch output, for the ONNX importer's tests. The outputs are NOT committed (they are large); the
tests regenerate them or skip.

    /usr/bin/python3 tools/export_zoo_onnx.py --model b1 --res 224 --out /tmp/zoo_onnx/b1-224

Writes to --out:
    model.onnx     opset 13, eval mode, input "input" [1,3,R,R], output "logits" [1,1000], constant folding on
    input.bin      float32 little-endian [1,3,R,R], N(0,1) from torch.manual_seed(seed + 1)
    output.bin     float32 little-endian [1,1000], PyTorch eval-mode logits of input.bin
    stageK.bin     (with --stages) backbone stage outputs stage0..stage4, float32 NCHW
    meta.json      shapes, seed, parameter count, torch version, ONNX op types

Weights: PyTorch's default initialization under torch.manual_seed(seed); then every BatchNorm gets
gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1^2), and running statistics measured on --calib random batches in
training mode (cumulative average, so mean/var are non-trivial and activations stay well scaled);
LayerNorm gets gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1^2). Export is in eval mode, so PyTorch's exporter
folds BatchNorm into the preceding Conv.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evit_torch  # noqa: E402


def seeded_model(name, res, seed, calib_batches, calib_batch_size):
    torch.manual_seed(seed)
    return randomize_norms(evit_torch.build_preset(name), res, calib_batches, calib_batch_size)


def randomize_norms(model, res, calib_batches, calib_batch_size):
    """Non-trivial BatchNorm / LayerNorm affines and BatchNorm running statistics (see the module text);
    returns the model in eval mode."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative moving average over the calibration batches
        model.train()
        for _ in range(calib_batches):
            model(torch.randn(calib_batch_size, 3, res, res))
    model.eval()
    return model


def save_bin(path, t):
    t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="b0", help="b0, b1, b2, b3 (or efficientvit-b0 ...), or fashion")
    ap.add_argument("--res", type=int, default=224, help="input resolution, a multiple of 32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calib", type=int, default=2, help="random batches used to set BN running stats")
    ap.add_argument("--calib-batch", type=int, default=4)
    ap.add_argument("--out", default=None, help="output directory (default /tmp/zoo_onnx/<model>-<res>)")
    ap.add_argument("--stages", action="store_true", help="also write the backbone stage outputs")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    name = args.model.replace("efficientvit-", "")
    if name not in evit_torch.PRESETS:
        sys.exit("unknown model %s (known: %s)" % (args.model, ", ".join(evit_torch.PRESETS)))
    if args.res < 32 or args.res % 32:
        sys.exit("resolution must be a positive multiple of 32")
    torch.set_num_threads(args.threads)
    out = args.out or os.path.join("/tmp/zoo_onnx", "%s-%d" % (name, args.res))
    os.makedirs(out, exist_ok=True)

    model = seeded_model(name, args.res, args.seed, args.calib, args.calib_batch)
    torch.manual_seed(args.seed + 1)
    x = torch.randn(1, 3, args.res, args.res)
    with torch.no_grad():
        feats = model.backbone(x)
        y = model.head(feats)
    save_bin(os.path.join(out, "input.bin"), x)
    save_bin(os.path.join(out, "output.bin"), y)
    stage_shapes = {}
    if args.stages:
        for k in ["stage0", "stage1", "stage2", "stage3", "stage4"]:
            save_bin(os.path.join(out, k + ".bin"), feats[k])
            stage_shapes[k] = list(feats[k].shape)

    onnx_path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, x, onnx_path, opset_version=13, input_names=["input"], output_names=["logits"],
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    ops = {}
    try:
        import onnx
        m = onnx.load(onnx_path)
        onnx.checker.check_model(m)
        for node in m.graph.node:
            ops[node.op_type] = ops.get(node.op_type, 0) + 1
    except ImportError:
        pass

    meta = {
        "model": "efficientvit-" + name if name != "fashion" else "fashion",
        "resolution": args.res, "seed": args.seed, "params": evit_torch.count_params(model),
        "weights": "torch default init under manual_seed(seed); BN/LN gamma U(0.5,1.5), beta N(0,0.1^2); "
                   "BN running stats from %d random N(0,1) batches of %d" % (args.calib, args.calib_batch),
        "onnx": {"file": "model.onnx", "opset": 13, "input": "input", "output": "logits", "op_types": ops},
        "input": {"file": "input.bin", "dtype": "float32", "byte_order": "little", "shape": list(x.shape),
                  "what": "N(0,1) under torch.manual_seed(seed + 1)"},
        "output": {"file": "output.bin", "dtype": "float32", "byte_order": "little", "shape": list(y.shape)},
        "stages": stage_shapes,
        "torch_version": torch.__version__,
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print("%s: %d params, logits[0,:4] = %s, output std %.4f -> %s" % (
        meta["model"], meta["params"], np.array2string(y[0, :4].numpy(), precision=4), float(y.std()), out))
    print("ONNX op types: " + ", ".join("%s x%d" % kv for kv in sorted(ops.items())))


if __name__ == "__main__":
    main()
