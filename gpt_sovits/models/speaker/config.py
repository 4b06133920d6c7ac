"""Size settings of the ERes2NetV2 speaker-verification network."""

from __future__ import annotations

from dataclasses import dataclass


def _halve(n: int) -> int:
    """Output length of a stride-2 convolution that keeps the length at stride 1 (k=1,p=0 or k=3,p=1)."""
    return (n - 1) // 2 + 1


@dataclass(frozen=True)
class ERes2NetV2Config:
    """Hyper-parameters of ERes2NetV2.

    The defaults are the ``w24s4ep4`` network GPT-SoVITS v2Pro/v2ProPlus use
    (``pretrained_eres2netv2w24s4ep4.ckpt``): base width 24, scale 4, expansion 4, blocks (3, 4, 6, 3),
    64 stem channels, 80 mel bins, a 192-dim x-vector head over mean+std statistics pooling.
    (Upstream's optional second embedding layer and other pooling kinds are not used by GPT-SoVITS
    and are not provided.)
    """

    num_blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    m_channels: int = 64
    feat_dim: int = 80
    embedding_size: int = 192
    base_width: int = 24
    scale: int = 4
    expansion: int = 4

    def __post_init__(self) -> None:
        if self.feat_dim % 8 != 0:
            # The x-vector head's input size is computed from feat_dim // 8; the network's real
            # frequency size after three stride-2 stages only agrees with it for multiples of 8.
            raise ValueError(f"feat_dim must be a multiple of 8, got {self.feat_dim}")
        if len(self.num_blocks) != 4:
            raise ValueError(f"num_blocks needs 4 stage sizes, got {self.num_blocks}")

    @property
    def out_channels(self) -> int:
        """Channels of the fused last-stage feature map."""
        return self.m_channels * 8 * self.expansion

    @property
    def out_freq(self) -> int:
        """Frequency rows of the fused last-stage feature map (feat_dim / 8)."""
        return _halve(_halve(_halve(self.feat_dim)))

    @property
    def sv_embedding_dim(self) -> int:
        """Size of the time-averaged feature-map embedding GPT-SoVITS feeds SoVITS (20480 by default)."""
        return self.out_channels * self.out_freq

    @property
    def stats_dim(self) -> int:
        """Input size of the statistics pooling (mean and std are each this long)."""
        return (self.feat_dim // 8) * self.m_channels * 8 * self.expansion
