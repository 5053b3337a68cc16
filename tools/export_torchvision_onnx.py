"""Export a torchvision classifier (random weights, nothing downloaded) to ONNX plus a reference input, the
PyTorch output and a MAC count read from the ONNX file alone, for the ONNX importer's tests and docs/models.md
(models below).
Needs Debian's python3-torchvision, python3-torch and python3-onnx. The outputs are not committed.

    /usr/bin/python3 tools/export_torchvision_onnx.py --model mobilenet_v2 --res 64 --out /tmp/tv/mnv2

Models: mobilenet_v2, resnet18, mobilenet_v3_small, efficientnet_b0, vit_b_16 (torchvision's ViT-B/16; its
image size is --res, a multiple of 16) and vit_test, a small model of the same class (torchvision.models.vision_transformer.VisionTransformer: patch
8, 2 layers, 2 heads, width 64, MLP 128, 10 classes) that keeps the importer's test short.

Writes to --out:
    model.onnx     opset 13, eval mode, input "input" [1,3,R,R], output "logits" [1,classes], constant folding
    input.bin      float32 little-endian [1,3,R,R], N(0,1) from torch.manual_seed(seed + 1)
    output.bin     float32 little-endian [1,classes], PyTorch eval-mode logits of input.bin
    meta.json      torch's parameter count, the ONNX file's MACs, initializer elements and op types, shapes,
                   versions; for the ViTs their architecture ("vit": patch, layers, heads, hidden, mlp, ...)

Weights as tools/export_zoo_onnx.py makes them (torch's default initialization under manual_seed(seed),
random BatchNorm and LayerNorm affines and BatchNorm running statistics), so BatchNorm folding is exercised on
non-trivial values. torchvision initializes a ViT's class token, its head and every attention and MLP bias to
zero (or 1e-6 noise); the exporter draws them instead (class token and biases N(0, 0.02^2), head weight
N(0, 1 / width)), so that the logits and every bias path depend on the weights.

The MAC count ("onnx_macs") is taken from model.onnx with ONNX's own shape inference, independently of
vitsim's importer: Conv = output elements x (Cin / group) x kernel area; Gemm and MatMul = output elements x
the contracted length. Every other op counts 0 (docs/models.md, "How counts are defined").
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnx.shape_inference
import torch
import torchvision
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_zoo_onnx import randomize_norms, save_bin  # noqa: E402

MODELS = {
    "mobilenet_v2": lambda res: torchvision.models.mobilenet_v2(weights=None),
    "resnet18": lambda res: torchvision.models.resnet18(weights=None),
    "mobilenet_v3_small": lambda res: torchvision.models.mobilenet_v3_small(weights=None),
    "efficientnet_b0": lambda res: torchvision.models.efficientnet_b0(weights=None),
    "vit_b_16": lambda res: torchvision.models.vit_b_16(weights=None, image_size=res),
    "vit_test": lambda res: VisionTransformer(image_size=res, patch_size=8, num_layers=2, num_heads=2,
                                              hidden_dim=64, mlp_dim=128, num_classes=10),
}
PATCH = {"vit_b_16": 16, "vit_test": 8}


def randomize_vit(model):
    """Draws the parameters torchvision's VisionTransformer initializes to zero (see the module text)."""
    with torch.no_grad():
        model.class_token.normal_(0.0, 0.02)
        for name, p in model.named_parameters():
            if name.endswith("bias"):  # the LayerNorms' are redrawn by randomize_norms
                p.normal_(0.0, 0.02)
        head = model.heads.head
        head.weight.normal_(0.0, head.in_features ** -0.5)
    return model


def onnx_macs(model):
    """Multiply-accumulates of every Conv, Gemm and MatMul of an ONNX model, from ONNX's inferred shapes."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    for t in inferred.graph.initializer:
        shapes[t.name] = list(t.dims)

    def shape(name):
        dims = shapes.get(name)
        if not dims or not all(d > 0 for d in dims):  # a MAC count from unknown dims would be silently low
            sys.exit("ONNX shape inference left the shape of '%s' unknown (%s)" % (name, dims))
        return dims

    total = 0
    for node in inferred.graph.node:
        if node.op_type == "Conv":
            weight = shape(node.input[1])  # [Cout, Cin / group, kh, kw]
            total += int(np.prod(shape(node.output[0]))) * int(np.prod(weight[1:]))
        elif node.op_type == "Gemm":
            trans_a = any(a.name == "transA" and a.i for a in node.attribute)
            a = shape(node.input[0])
            total += int(np.prod(shape(node.output[0]))) * (a[0] if trans_a else a[1])
        elif node.op_type == "MatMul":
            total += int(np.prod(shape(node.output[0]))) * shape(node.input[0])[-1]
    return total


def onnx_params(model):
    """Elements of the initializers each layer reads: the exporter stores equal tensors once (torchvision
    zero-initializes the squeeze-excite biases) and gives the other layers an Identity of it, which counts again."""
    sizes = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    shared = sum(sizes[n.input[0]] for n in model.graph.node if n.op_type == "Identity" and n.input[0] in sizes)
    return sum(sizes.values()) + shared


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--res", type=int, default=224,
                    help="input resolution, a multiple of 32 (of the patch size for the ViTs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calib", type=int, default=2, help="random batches used to set BN running stats")
    ap.add_argument("--calib-batch", type=int, default=4)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    multiple = PATCH.get(args.model, 32)
    if args.res < multiple or args.res % multiple:
        sys.exit("resolution must be a positive multiple of %d for %s" % (multiple, args.model))
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(args.seed)
    model = MODELS[args.model](args.res)
    if isinstance(model, VisionTransformer):
        randomize_vit(model)
    model = randomize_norms(model, args.res, args.calib, args.calib_batch)
    torch.manual_seed(args.seed + 1)
    x = torch.randn(1, 3, args.res, args.res)
    with torch.no_grad():
        y = model(x)
    save_bin(os.path.join(args.out, "input.bin"), x)
    save_bin(os.path.join(args.out, "output.bin"), y)

    onnx_path = os.path.join(args.out, "model.onnx")
    torch.onnx.export(model, x, onnx_path, opset_version=13, input_names=["input"], output_names=["logits"],
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = {}
    for node in m.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    meta = {
        "model": args.model, "resolution": args.res, "seed": args.seed,
        "params": sum(p.numel() for p in model.parameters()),
        "onnx_macs": onnx_macs(m),
        # BatchNorm folded into conv biases: torch's count less one value per normalized channel
        "onnx_params": onnx_params(m),
        "onnx": {"file": "model.onnx", "opset": 13, "input": "input", "output": "logits", "op_types": ops},
        "input": {"file": "input.bin", "shape": list(x.shape)},
        "output": {"file": "output.bin", "shape": list(y.shape)},
        "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
    }
    if isinstance(model, VisionTransformer):  # the architecture, for the importer's structural checks
        meta["vit"] = {"patch": model.patch_size, "layers": len(model.encoder.layers),
                       "heads": model.encoder.layers[0].self_attention.num_heads, "hidden": model.hidden_dim,
                       "mlp": model.mlp_dim, "classes": model.num_classes,
                       "ln_eps": model.encoder.ln.eps}
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print("%s @%d: %d params, %d MACs (ONNX count) -> %s" % (args.model, args.res, meta["params"],
                                                             meta["onnx_macs"], args.out))
    print("ONNX op types: " + ", ".join("%s x%d" % kv for kv in sorted(ops.items())))


if __name__ == "__main__":
    main()
