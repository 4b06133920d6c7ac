"""One decoding step through all transformer layers (the hot loop of code generation).

Per token the step reads every weight once (77.6 M for the full v2 model), so it is bound by memory
bandwidth and the matrix-vector kernel decides the speed. BLAS ``F.linear`` streams the weights at
about 16 GB/s on the reference 2-core AMD machine, whereas ``F.embedding_bag`` with per-sample
weights, which computes ``sum_i w[i] * table[i, :]`` in one pass of fbgemm's vectorised kernel,
reaches 30-40 GB/s. So each projection ``x @ W.T + b`` is stored as a bag table (``W.T`` with the bias
as one more row, weighted 1), its output columns cut into one block per thread so that the bags run
in parallel. The table may be stored in bf16 or fp16 (half the bytes; fbgemm converts on the fly and
accumulates in float32). Attention, layer norms and the key/value cache stay float32; keys and values
go into the preallocated cache by index, and nothing large is allocated per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from gpt_sovits.models.t2s.layers import LayerParams

Projection = Callable[[torch.Tensor], torch.Tensor]  # [B, I] float32 -> [B, O] float32


class BagTable(NamedTuple):
    """A projection ``y = x @ W.T + b`` laid out for ``F.embedding_bag``.

    The output columns are cut into ``parts`` blocks; block ``p`` holds rows ``W.T[:, cols_p]`` followed
    by one row ``b[cols_p]``, so a bag over the block with per-sample weights ``[x, 1]`` yields that
    block of ``y``, bias included. The blocks are stacked: ``table`` is ``[parts * (I + 1), O / parts]``.
    """

    table: torch.Tensor
    dim_in: int
    dim_out: int
    parts: int


def make_bag_table(
    weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype, splits: int
) -> BagTable:
    """Build the :class:`BagTable` of a ``[O, I]`` weight in ``dtype`` with up to ``splits`` blocks."""
    dim_out, dim_in = weight.shape
    parts = splits if splits > 1 and dim_out % splits == 0 else 1
    bias_row = torch.zeros(1, dim_out) if bias is None else bias.detach().view(1, dim_out)
    full = torch.cat([weight.detach().t(), bias_row.to(weight.device, weight.dtype)])  # [I + 1, O]
    blocks = full.view(dim_in + 1, parts, dim_out // parts).transpose(0, 1)  # [parts, I + 1, O / parts]
    return BagTable(blocks.reshape(-1, dim_out // parts).to(dtype).contiguous(), dim_in, dim_out, parts)


def bag_projection(bag: BagTable, rows: int, relu: bool = False) -> Projection:
    """``x @ W.T + b`` (optionally ReLU) for ``rows`` rows: one copy, one ``F.embedding_bag``, a view."""
    table, dim_in, dim_out, parts = bag
    block = dim_in + 1
    device = table.device
    index = torch.arange(parts * block, device=device).repeat(rows)  # [rows * parts * (I + 1)]
    offsets = torch.arange(0, rows * parts * block, block, device=device)  # one bag per (row, part)
    weights = torch.ones(rows, parts, block, dtype=table.dtype, device=device)  # last column stays 1
    inputs, flat = weights[:, :, :dim_in], weights.view(-1)
    low_precision = table.dtype != torch.float32

    def project(x: torch.Tensor) -> torch.Tensor:
        inputs.copy_(x.unsqueeze(1))  # [rows, parts, I], cast to the table's dtype
        y = F.embedding_bag(index, table, offsets, mode="sum", per_sample_weights=flat).view(rows, dim_out)
        if low_precision:
            y = y.float()
        return y.relu_() if relu else y

    return project


def linear_projection(weight: torch.Tensor, bias: torch.Tensor | None, relu: bool = False) -> Projection:
    """The same projection through ``F.linear`` (used on devices other than the CPU, e.g. CUDA)."""

    def project(x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, weight, bias)
        return y.relu_() if relu else y

    return project


class StepLayer(NamedTuple):
    """One layer prepared for the step: projections plus the layer-norm parameters."""

    qkv: Projection
    out: Projection
    ff1_relu: Projection  # includes the ReLU
    ff2: Projection
    norm1: tuple[torch.Tensor, torch.Tensor]
    norm2: tuple[torch.Tensor, torch.Tensor]
    eps: float
    num_heads: int


class LayerTables(NamedTuple):
    """The four projection tables of one layer, built once per decoder."""

    qkv: BagTable
    out: BagTable
    ff1: BagTable
    ff2: BagTable


def make_layer_tables(p: LayerParams, dtype: torch.dtype, splits: int) -> LayerTables:
    """:class:`BagTable` copies of one layer's projections."""
    return LayerTables(
        make_bag_table(p.qkv_w, p.qkv_b, dtype, splits),
        make_bag_table(p.out_w, p.out_b, dtype, splits),
        make_bag_table(p.ff1_w, p.ff1_b, dtype, splits),
        make_bag_table(p.ff2_w, p.ff2_b, dtype, splits),
    )


def prepare_layers(params: list[LayerParams], tables: list[LayerTables] | None, rows: int) -> list[StepLayer]:
    """Bind every layer to projections for ``rows`` rows (cheap: only index vectors are made).

    ``tables`` None: plain ``F.linear`` on the layer weights (for devices other than the CPU).
    """
    out = []
    for i, p in enumerate(params):
        if tables is None:
            proj = (
                linear_projection(p.qkv_w, p.qkv_b),
                linear_projection(p.out_w, p.out_b),
                linear_projection(p.ff1_w, p.ff1_b, relu=True),
                linear_projection(p.ff2_w, p.ff2_b),
            )
        else:
            t = tables[i]
            proj = (
                bag_projection(t.qkv, rows),
                bag_projection(t.out, rows),
                bag_projection(t.ff1, rows, relu=True),
                bag_projection(t.ff2, rows),
            )
        out.append(StepLayer(*proj, (p.norm1_w, p.norm1_b), (p.norm2_w, p.norm2_b), p.eps, p.num_heads))
    return out


def step_layers(
    x: torch.Tensor,
    layers: list[StepLayer],
    kv: list[torch.Tensor],
    pos: int,
    key_bias: torch.Tensor | None,
) -> torch.Tensor:
    """Run the new position ``pos`` of every row through all layers.

    x: ``[B, E]``; kv[i]: layer i's cache ``[2, B, H, Tmax, D]`` (keys, values), whose column ``pos``
    receives this position; key_bias: additive ``[B, 1, 1, Tmax]`` (0 / -inf on padding) or None.
    Returns ``[B, E]``.
    """
    bsz, dim = x.shape
    shape = (dim,)
    bias = None if key_bias is None else key_bias[..., : pos + 1]
    for layer, cache in zip(layers, kv):
        qkv = layer.qkv(x).view(bsz, 3, layer.num_heads, 1, dim // layer.num_heads)  # [B, 3, H, 1, D]
        cache[:, :, :, pos : pos + 1].copy_(qkv[:, 1:].transpose(0, 1))
        past = cache[:, :, :, : pos + 1]  # [2, B, H, pos+1, D]
        attn = F.scaled_dot_product_attention(qkv[:, 0], past[0], past[1], attn_mask=bias)  # [B, H, 1, D]
        x = F.layer_norm(layer.out(attn.view(bsz, dim)).add_(x), shape, *layer.norm1, layer.eps)
        x = F.layer_norm(layer.ff2(layer.ff1_relu(x)).add_(x), shape, *layer.norm2, layer.eps)
    return x
