"""ERes2NetV2 speaker-verification network (3D-Speaker), as GPT-SoVITS v2Pro/v2ProPlus use it.

Attribute names follow the official checkpoint (``pretrained_eres2netv2w24s4ep4.ckpt``) so that its
state dict loads by plain key copy. The network reads log-mel filterbanks ``[B, T, F]`` and is a 2-D
ResNet over (frequency, time): a 3x3 stem, four stages of Res2Net-style blocks (the last two fuse
their sub-bands with attentional feature fusion, AFF), and a bottom-up fusion of stage 3
(downsampled) into stage 4.

Two read-outs exist:

- :meth:`ERes2NetV2.sv_embedding`: the fused stage-4 map flattened over (channel, frequency) and
  averaged over time, ``[B, C * F/8]`` (20480 values for the official network). This is what
  GPT-SoVITS v2Pro feeds the SoVITS generator.
- :meth:`ERes2NetV2.forward`: the speaker x-vector (statistics pooling + linear, 192 values), the
  network's original output; kept because its weights are part of the checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gpt_sovits.models.speaker.config import ERes2NetV2Config


class ClippedReLU(nn.Hardtanh):
    """ReLU clipped at 20, the activation inside the residual blocks."""

    def __init__(self) -> None:
        super().__init__(0.0, 20.0)


class AFF(nn.Module):
    """Attentional feature fusion of two equally shaped maps.

    A bottleneck of 1x1 convolutions over both maps gives a gate ``g`` in (0, 2); the output is
    ``x * g + y * (2 - g)``.
    """

    def __init__(self, channels: int, r: int = 4) -> None:
        super().__init__()
        inner = channels // r
        # Index layout 0..4 is fixed by the checkpoint keys (local_att.0.weight, local_att.1.*, ...).
        self.local_att = nn.Sequential(
            nn.Conv2d(channels * 2, inner, kernel_size=1),
            nn.BatchNorm2d(inner),
            nn.SiLU(),
            nn.Conv2d(inner, channels, kernel_size=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gate = 1.0 + torch.tanh(self.local_att(torch.cat((x, y), dim=1)))  # [B, C, F, T]
        return x * gate + y * (2.0 - gate)


class Res2Block(nn.Module):
    """One residual block: 1x1 expand, hierarchical 3x3 convolutions over ``scale`` sub-bands, 1x1 out.

    Sub-band ``i`` is convolved after being combined with the previous sub-band's output: by
    addition, or by :class:`AFF` when ``fuse`` is set (stages 3 and 4).
    """

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int,
        base_width: int,
        scale: int,
        expansion: int,
        fuse: bool,
    ) -> None:
        super().__init__()
        width = int(math.floor(planes * (base_width / 64.0)))
        out_planes = planes * expansion
        self.width = width
        self.scale = scale
        self.conv1 = nn.Conv2d(in_planes, width * scale, kernel_size=1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False) for _ in range(scale)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale))
        if fuse:
            self.fuse_models = nn.ModuleList(AFF(width, r=4) for _ in range(scale - 1))
        else:
            self.fuse_models = None
        self.relu = ClippedReLU()
        self.conv3 = nn.Conv2d(width * scale, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )
        else:
            self.shortcut = nn.Sequential()  # identity, and no keys, as in the checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bands = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, dim=1)  # scale x [B, w, F, T]
        outs: list[torch.Tensor] = []
        sp = bands[0]
        for i in range(self.scale):
            if i > 0:
                prev = outs[-1]
                sp = prev + bands[i] if self.fuse_models is None else self.fuse_models[i - 1](prev, bands[i])
            outs.append(self.relu(self.bns[i](self.convs[i](sp))))
        out = self.bn3(self.conv3(torch.cat(outs, dim=1)))  # [B, planes * expansion, F, T]
        return self.relu(out + self.shortcut(x))


class ERes2NetV2(nn.Module):
    """The ERes2NetV2 network; see the module docstring for the two read-outs."""

    def __init__(self, config: ERes2NetV2Config | None = None) -> None:
        super().__init__()
        cfg = config or ERes2NetV2Config()
        self.config = cfg
        m = cfg.m_channels
        self.conv1 = nn.Conv2d(1, m, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m)
        in_planes = m
        stages = []
        for idx, (planes, blocks, stride) in enumerate(
            zip((m, 2 * m, 4 * m, 8 * m), cfg.num_blocks, (1, 2, 2, 2))
        ):
            layer = []
            for b in range(blocks):
                layer.append(
                    Res2Block(
                        in_planes,
                        planes,
                        stride if b == 0 else 1,
                        cfg.base_width,
                        cfg.scale,
                        cfg.expansion,
                        fuse=idx >= 2,
                    )
                )
                in_planes = planes * cfg.expansion
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        # Stage 3 is brought down to stage 4's resolution and channel count, then fused into it.
        self.layer3_ds = nn.Conv2d(
            4 * m * cfg.expansion, cfg.out_channels, kernel_size=3, stride=2, padding=1, bias=False
        )
        self.fuse34 = AFF(cfg.out_channels, r=4)
        # x-vector head over mean+std statistics (the checkpoint's single embedding layer).
        self.seg_1 = nn.Linear(cfg.stats_dim * 2, cfg.embedding_size)

    def feature_map(self, feats: torch.Tensor) -> torch.Tensor:
        """Fused stage-3/4 map of filterbanks ``[B, T, F]`` -> ``[B, C, F/8, ~T/8]``."""
        x = feats.transpose(1, 2).unsqueeze(1)  # [B, 1, F, T]
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out3 = self.layer3(out)
        out4 = self.layer4(out3)
        return self.fuse34(out4, self.layer3_ds(out3))

    def sv_embedding(self, feats: torch.Tensor) -> torch.Tensor:
        """Time-averaged fused map, ``[B, T, F]`` -> ``[B, sv_embedding_dim]`` (GPT-SoVITS v2Pro input)."""
        fmap = self.feature_map(feats)  # [B, C, F', T']
        return fmap.flatten(1, 2).mean(dim=-1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Speaker x-vector, ``[B, T, F]`` -> ``[B, embedding_size]`` (mean+std pooling over time)."""
        fmap = self.feature_map(feats).flatten(1, 2)  # [B, C * F', T']
        stats = torch.cat((fmap.mean(dim=-1), torch.sqrt(torch.var(fmap, dim=-1) + 1e-8)), dim=1)
        return self.seg_1(stats)
