"""Speaker-verification network (ERes2NetV2) used by GPT-SoVITS v2Pro and v2ProPlus."""

from gpt_sovits.models.speaker.config import ERes2NetV2Config
from gpt_sovits.models.speaker.eres2netv2 import AFF, ERes2NetV2, Res2Block

__all__ = ["AFF", "ERes2NetV2", "ERes2NetV2Config", "Res2Block"]
