#!/usr/bin/python3
"""Writes configs/workloads/resnet50_conv.csv: the 53 convolutions of ResNet-50 (torchvision's v1.5, the
stride-2 on the 3x3 conv of each stage's first bottleneck; MLPerf's ResNet-50) in SCALE-Sim's conv topology
format, at 224x224, in execution order (a block's downsample projection after its conv3).

SCALE-Sim has no padding and computes ofmap = ceil((ifmap - filter) / stride) + 1. Each row's IFMAP is the
extent of the padded input the conv's windows cover, (ofmap - 1) * stride + filter, so SCALE-Sim's rule gives
the real output size. For a stride-1 conv that is the padded input (56 + 2 = 58 for a 3x3); for a stride-2
conv it is one less than the padded input where that is odd (conv1: 229, not 224 + 6 = 230, which SCALE-Sim
would round up to a 113x113 output).

Usage: /usr/bin/python3 tools/resnet50_scalesim_topology.py > configs/workloads/resnet50_conv.csv
"""

import sys

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"


def row(name, ofmap, kernel, stride, channels, filters):
    ifmap = (ofmap - 1) * stride + kernel
    return f"{name},{ifmap},{ifmap},{kernel},{kernel},{channels},{filters},{stride},"


def layers():
    yield row("conv1", 112, 7, 2, 3, 64)
    size, channels = 56, 64  # after the 3x3 stride-2 max pool
    for stage, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=1):
        for b in range(blocks):
            stride = 2 if stage > 1 and b == 0 else 1
            out = size // stride
            prefix = f"layer{stage}.{b}."
            yield row(prefix + "conv1", size, 1, 1, channels, planes)
            yield row(prefix + "conv2", out, 3, stride, planes, planes)
            yield row(prefix + "conv3", out, 1, 1, planes, planes * 4)
            if b == 0:
                yield row(prefix + "downsample.0", out, 1, stride, channels, planes * 4)
            size, channels = out, planes * 4


def main():
    rows = list(layers())
    assert len(rows) == 53, len(rows)
    sys.stdout.write(HEADER + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
