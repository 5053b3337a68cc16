"""PyTorch definition of the EfficientViT B-series (Cai et al., ICCV 2023) for vitsim's tools.

Mirrors the structure and module names of the official mit-han-lab code
(efficientvit/models/nn/ops.py, efficientvit/models/efficientvit/backbone.py and cls.py), so a state dict
has the official keys, e.g. ``backbone.stages.3.1.context_module.main.qkv.conv.weight``. The C++ zoo
(quant/zoo.cpp) builds the same graph; see docs/models.md for the short layer names it uses.

One deliberate difference: the official LiteMLA.forward switches to ``relu_quadratic_att`` when
H*W <= dim (tiny feature maps). This file always uses ``relu_linear_att`` (as the C++ zoo and the
Trio-ViT hardware do). Both are the same function mathematically, up to where the 1e-15 epsilon enters.

Run with Debian's python: /usr/bin/python3 tools/evit_torch.py  (prints the preset parameter counts).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ConvLayer", "LinearLayer", "DSConv", "MBConv", "LiteMLA", "ResidualBlock", "IdentityLayer",
    "OpSequential", "EfficientViTBlock", "EfficientViTBackbone", "ClsHead", "EfficientViTCls",
    "build_efficientvit", "PRESETS", "build_preset", "count_params",
]


# --------------------------------------------------------------------------------------------------
# helpers (efficientvit/models/nn/norm.py, act.py, utils)

def get_same_padding(kernel_size):
    assert kernel_size % 2 > 0, "kernel size should be odd number"
    return kernel_size // 2


def val2tuple(x, n=1):
    if isinstance(x, (list, tuple)):
        x = tuple(x)
        if len(x) == 1:
            x = x * n
        assert len(x) == n
        return x
    return (x,) * n


def build_norm(name, num_features):
    if name is None:
        return None
    if name == "bn2d":
        return nn.BatchNorm2d(num_features)  # eps 1e-5, momentum 0.1
    if name == "ln":
        return nn.LayerNorm(num_features)  # eps 1e-5
    raise ValueError("unknown norm " + str(name))


def build_act(name):
    if name is None:
        return None
    if name == "relu":
        return nn.ReLU()
    if name == "relu6":
        return nn.ReLU6()
    if name == "hswish":
        return nn.Hardswish()
    if name == "gelu":
        return nn.GELU(approximate="tanh")
    raise ValueError("unknown activation " + str(name))


# --------------------------------------------------------------------------------------------------
# basic layers (efficientvit/models/nn/ops.py)

class ConvLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dilation=1, groups=1,
                 use_bias=False, dropout=0.0, norm="bn2d", act_func="relu"):
        super().__init__()
        padding = get_same_padding(kernel_size) * dilation
        self.dropout = nn.Dropout2d(dropout, inplace=False) if dropout > 0 else None
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=(kernel_size, kernel_size),
                              stride=(stride, stride), padding=padding, dilation=(dilation, dilation),
                              groups=groups, bias=use_bias)
        self.norm = build_norm(norm, out_channels)
        self.act = build_act(act_func)

    def forward(self, x):
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class LinearLayer(nn.Module):
    def __init__(self, in_features, out_features, use_bias=True, dropout=0.0, norm=None, act_func=None):
        super().__init__()
        self.dropout = nn.Dropout(dropout, inplace=False) if dropout > 0 else None
        self.linear = nn.Linear(in_features, out_features, use_bias)
        self.norm = build_norm(norm, out_features)
        self.act = build_act(act_func)

    def forward(self, x):
        if x.dim() > 2:
            x = torch.flatten(x, start_dim=1)
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.linear(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class IdentityLayer(nn.Module):
    def forward(self, x):
        return x


class DSConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, use_bias=False,
                 norm=("bn2d", "bn2d"), act_func=("relu6", None)):
        super().__init__()
        use_bias = val2tuple(use_bias, 2)
        norm = val2tuple(norm, 2)
        act_func = val2tuple(act_func, 2)
        self.depth_conv = ConvLayer(in_channels, in_channels, kernel_size, stride, groups=in_channels,
                                    norm=norm[0], act_func=act_func[0], use_bias=use_bias[0])
        self.point_conv = ConvLayer(in_channels, out_channels, 1, norm=norm[1], act_func=act_func[1],
                                    use_bias=use_bias[1])

    def forward(self, x):
        return self.point_conv(self.depth_conv(x))


class MBConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, mid_channels=None, expand_ratio=6,
                 use_bias=False, norm=("bn2d", "bn2d", "bn2d"), act_func=("relu6", "relu6", None)):
        super().__init__()
        use_bias = val2tuple(use_bias, 3)
        norm = val2tuple(norm, 3)
        act_func = val2tuple(act_func, 3)
        mid_channels = mid_channels or round(in_channels * expand_ratio)
        self.inverted_conv = ConvLayer(in_channels, mid_channels, 1, stride=1, norm=norm[0],
                                       act_func=act_func[0], use_bias=use_bias[0])
        self.depth_conv = ConvLayer(mid_channels, mid_channels, kernel_size, stride=stride, groups=mid_channels,
                                    norm=norm[1], act_func=act_func[1], use_bias=use_bias[1])
        self.point_conv = ConvLayer(mid_channels, out_channels, 1, norm=norm[2], act_func=act_func[2],
                                    use_bias=use_bias[2])

    def forward(self, x):
        return self.point_conv(self.depth_conv(self.inverted_conv(x)))


class LiteMLA(nn.Module):
    """Lightweight multi-scale linear attention (ReLU kernel)."""

    def __init__(self, in_channels, out_channels, heads=None, heads_ratio=1.0, dim=8, use_bias=False,
                 norm=(None, "bn2d"), act_func=(None, None), kernel_func="relu", scales=(5,), eps=1.0e-15):
        super().__init__()
        self.eps = eps
        heads = int(in_channels // dim * heads_ratio) if heads is None else heads
        total_dim = heads * dim
        use_bias = val2tuple(use_bias, 2)
        norm = val2tuple(norm, 2)
        act_func = val2tuple(act_func, 2)
        self.dim = dim
        self.qkv = ConvLayer(in_channels, 3 * total_dim, 1, use_bias=use_bias[0], norm=norm[0],
                             act_func=act_func[0])
        self.aggreg = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(3 * total_dim, 3 * total_dim, scale, padding=get_same_padding(scale),
                          groups=3 * total_dim, bias=use_bias[0]),
                nn.Conv2d(3 * total_dim, 3 * total_dim, 1, groups=3 * heads, bias=use_bias[0]),
            )
            for scale in scales
        ])
        self.kernel_func = build_act(kernel_func)
        self.proj = ConvLayer(total_dim * (1 + len(scales)), out_channels, 1, use_bias=use_bias[1],
                              norm=norm[1], act_func=act_func[1])

    def relu_linear_att(self, qkv):
        B, _, H, W = list(qkv.size())
        if qkv.dtype == torch.float16:
            qkv = qkv.float()
        qkv = torch.reshape(qkv, (B, -1, 3 * self.dim, H * W))
        q, k, v = (qkv[:, :, 0:self.dim], qkv[:, :, self.dim:2 * self.dim], qkv[:, :, 2 * self.dim:])
        q = self.kernel_func(q)
        k = self.kernel_func(k)
        trans_k = k.transpose(-1, -2)
        v = F.pad(v, (0, 0, 0, 1), mode="constant", value=1)
        vk = torch.matmul(v, trans_k)
        out = torch.matmul(vk, q)
        out = out[:, :, :-1] / (out[:, :, -1:] + self.eps)
        out = torch.reshape(out, (B, -1, H, W))
        return out

    def forward(self, x):
        qkv = self.qkv(x)
        multi_scale_qkv = [qkv]
        for op in self.aggreg:
            multi_scale_qkv.append(op(qkv))
        qkv = torch.cat(multi_scale_qkv, dim=1)
        out = self.relu_linear_att(qkv).to(qkv.dtype)  # always linear, see the module docstring
        return self.proj(out)


class ResidualBlock(nn.Module):
    def __init__(self, main, shortcut, post_act=None, pre_norm=None):
        super().__init__()
        self.pre_norm = pre_norm
        self.main = main
        self.shortcut = shortcut
        self.post_act = build_act(post_act)

    def forward_main(self, x):
        return self.main(x) if self.pre_norm is None else self.main(self.pre_norm(x))

    def forward(self, x):
        if self.main is None:
            return x
        if self.shortcut is None:
            return self.forward_main(x)
        res = self.forward_main(x) + self.shortcut(x)
        if self.post_act is not None:
            res = self.post_act(res)
        return res


class OpSequential(nn.Module):
    def __init__(self, op_list):
        super().__init__()
        self.op_list = nn.ModuleList([op for op in op_list if op is not None])

    def forward(self, x):
        for op in self.op_list:
            x = op(x)
        return x


class EfficientViTBlock(nn.Module):
    def __init__(self, in_channels, heads_ratio=1.0, dim=32, expand_ratio=4, scales=(5,), norm="bn2d",
                 act_func="hswish"):
        super().__init__()
        self.context_module = ResidualBlock(
            LiteMLA(in_channels, in_channels, heads_ratio=heads_ratio, dim=dim, norm=(None, norm), scales=scales),
            IdentityLayer(),
        )
        local_module = MBConv(in_channels, in_channels, expand_ratio=expand_ratio, use_bias=(True, True, False),
                              norm=(None, None, norm), act_func=(act_func, act_func, None))
        self.local_module = ResidualBlock(local_module, IdentityLayer())

    def forward(self, x):
        return self.local_module(self.context_module(x))


# --------------------------------------------------------------------------------------------------
# backbone and classifier (efficientvit/models/efficientvit/backbone.py, cls.py)

class EfficientViTBackbone(nn.Module):
    def __init__(self, width_list, depth_list, in_channels=3, dim=32, expand_ratio=4, norm="bn2d",
                 act_func="hswish"):
        super().__init__()
        self.width_list = []
        input_stem = [ConvLayer(in_channels, width_list[0], stride=2, norm=norm, act_func=act_func)]
        for _ in range(depth_list[0]):
            block = self.build_local_block(width_list[0], width_list[0], 1, 1, norm, act_func)
            input_stem.append(ResidualBlock(block, IdentityLayer()))
        in_channels = width_list[0]
        self.input_stem = OpSequential(input_stem)
        self.width_list.append(in_channels)

        stages = []
        for w, d in zip(width_list[1:3], depth_list[1:3]):
            stage = []
            for i in range(d):
                stride = 2 if i == 0 else 1
                block = self.build_local_block(in_channels, w, stride, expand_ratio, norm, act_func)
                stage.append(ResidualBlock(block, IdentityLayer() if stride == 1 else None))
                in_channels = w
            stages.append(OpSequential(stage))
            self.width_list.append(in_channels)

        for w, d in zip(width_list[3:], depth_list[3:]):
            stage = []
            block = self.build_local_block(in_channels, w, 2, expand_ratio, norm, act_func, fewer_norm=True)
            stage.append(ResidualBlock(block, None))
            in_channels = w
            for _ in range(d):
                stage.append(EfficientViTBlock(in_channels, dim=dim, expand_ratio=expand_ratio, norm=norm,
                                               act_func=act_func))
            stages.append(OpSequential(stage))
            self.width_list.append(in_channels)
        self.stages = nn.ModuleList(stages)

    @staticmethod
    def build_local_block(in_channels, out_channels, stride, expand_ratio, norm, act_func, fewer_norm=False):
        if expand_ratio == 1:
            return DSConv(in_channels, out_channels, stride=stride,
                          use_bias=(True, False) if fewer_norm else False,
                          norm=(None, norm) if fewer_norm else norm, act_func=(act_func, None))
        return MBConv(in_channels, out_channels, stride=stride, expand_ratio=expand_ratio,
                      use_bias=(True, True, False) if fewer_norm else False,
                      norm=(None, None, norm) if fewer_norm else norm, act_func=(act_func, act_func, None))

    def forward(self, x):
        output_dict = {"input": x}
        output_dict["stage0"] = x = self.input_stem(x)
        for stage_id, stage in enumerate(self.stages, 1):
            output_dict["stage%d" % stage_id] = x = stage(x)
        output_dict["stage_final"] = x
        return output_dict


class ClsHead(OpSequential):
    def __init__(self, in_channels, width_list, n_classes=1000, dropout=0.0, norm="bn2d", act_func="hswish",
                 fid="stage_final"):
        ops = [
            ConvLayer(in_channels, width_list[0], 1, norm=norm, act_func=act_func),
            nn.AdaptiveAvgPool2d(output_size=1),
            LinearLayer(width_list[0], width_list[1], False, norm="ln", act_func=act_func),
            LinearLayer(width_list[1], n_classes, True, dropout, None, None),
        ]
        super().__init__(ops)
        self.fid = fid

    def forward(self, feed_dict):
        return OpSequential.forward(self, feed_dict[self.fid])


class EfficientViTCls(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        return self.head(self.backbone(x))


# --------------------------------------------------------------------------------------------------
# builders and presets

def build_efficientvit(widths, depths, head_dim, head_widths, n_classes=1000, in_channels=3, dropout=0.0):
    backbone = EfficientViTBackbone(list(widths), list(depths), in_channels=in_channels, dim=head_dim)
    head = ClsHead(widths[-1], list(head_widths), n_classes=n_classes, dropout=dropout)
    return EfficientViTCls(backbone, head)


# name -> (widths, depths, head_dim, head_widths, n_classes, input resolution)
PRESETS = {
    "b0": ((8, 16, 32, 64, 128), (1, 2, 2, 2, 2), 16, (1024, 1280), 1000, 224),
    "b1": ((16, 32, 64, 128, 256), (1, 2, 3, 3, 4), 16, (1536, 1600), 1000, 224),
    "b2": ((24, 48, 96, 192, 384), (1, 3, 4, 4, 6), 32, (2304, 2560), 1000, 224),
    "b3": ((32, 64, 128, 256, 512), (1, 4, 6, 6, 9), 32, (2304, 2560), 1000, 224),
    # the Fashion-MNIST fixture (tests/data/fashion_evit): 3x64x64 input, 10 classes
    "fashion": ((8, 16, 32, 64, 128), (1, 1, 1, 1, 1), 16, (256, 256), 10, 64),
}

OFFICIAL_PARAMS = {"b0": 3410008, "b1": 9102024, "b2": 24330712, "b3": 48646056}


def build_preset(name, n_classes=None):
    widths, depths, head_dim, head_widths, classes, _ = PRESETS[name]
    return build_efficientvit(widths, depths, head_dim, head_widths,
                              n_classes=classes if n_classes is None else n_classes)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    for name in PRESETS:
        n = count_params(build_preset(name))
        ref = OFFICIAL_PARAMS.get(name)
        tag = "" if ref is None else ("  OK" if n == ref else "  MISMATCH (official %d)" % ref)
        print("%-8s %12d%s" % (name, n, tag))
