"""imc passes: one pass per file, named after its flag.

`PASSES` maps each flag to `module:Class`; classes are imported only when a
pass is used, so adding a pass is one line here.
"""

import importlib

PASSES: dict[str, str] = {
    "imc-check-buffers": "imc_check_buffers:ImcCheckBuffers",
    "imc-group-contractions": "imc_group_contractions:ImcGroupContractions",
    "imc-map-contractions": "imc_map_contractions:ImcMapContractions",
    "imc-tile": "imc_tile:ImcTile",
    "imc-tile-rows": "imc_tile_rows:ImcTileRows",
    "imc-place-buffers": "imc_place_buffers:ImcPlaceBuffers",
    "imc-place-crossbars": "imc_place_crossbars:ImcPlaceCrossbars",
    "imc-lower-transfers": "imc_lower_transfers:ImcLowerTransfers",
    "imc-quantize-activations": "imc_quantize_activations:ImcQuantizeActivations",
    "test-imc-fail": "test_imc_fail:TestImcFail",
}

PIPELINES: dict[str, tuple[str, str]] = {
    "imc-map-to-crossbars": (
        "linalg-on-tensors -> weight-stationary contracts -> crossbar tiles -> placed crossbars",
        "imc-map-contractions, imc-tile, imc-place-crossbars, cse",
    ),
    "imc-default": (
        "linalg-on-tensors -> placed crossbars and buffers, one layer at a time on whole tensors, verified",
        "imc-map-to-crossbars, imc-quantize-activations, imc-place-buffers, imc-check-buffers, imc-group-contractions",
    ),
    "imc-tiled": (
        "imc-default after tiling convolution stages over output rows (their working sets on chip, stages that fit in tiles of at most 4 rows so that layers overlap; a following pooling or conv, and a 1x1 conv after it, fused through a line buffer; runs of block loops, each reading the rows of the one before as they are made, as one pipeline while their outputs do not fit the scratchpad; a global pooling reduced trip by trip in the loop of the stage it reads) and running two linears in a row (a feed-forward block, the LayerNorm before it on each trip's rows) and a self-attention (over query rows, its keys and values kept on chip, their projections in row loops of their own when their input comes row by row) in one row loop each when they do not fit, with layers copied onto spare crossbars where that shortens the layers' summed time (imc-place-crossbars{duplicate=true objective=latency}) and buffers at bytes of their own where that moves no more DRAM bytes, so that calls overlap (imc-place-buffers{overlap-calls=true}); imc.compile's default",
        "imc-tile-rows{fit-rows=4}, imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true objective=latency}, cse, "
        "imc-quantize-activations, imc-place-buffers{overlap-calls=true}, imc-check-buffers, imc-group-contractions",
    ),
    "imc-pipelined": (
        "for latency and throughput: imc-tiled with tiles of at most 4 output rows on every stage, also those that do not fit the scratchpad (which may move more DRAM bytes), and copies for the pipeline's bottleneck (imc-place-crossbars{duplicate=true}, objective throughput)",
        "imc-tile-rows{rows=4}, imc-map-contractions, imc-tile, imc-place-crossbars{duplicate=true}, cse, "
        "imc-quantize-activations, imc-place-buffers{overlap-calls=true}, imc-check-buffers, imc-group-contractions",
    ),
}
"""Named pipelines: flag -> (summary, pipeline elements)."""


def pass_names() -> list[str]:
    return sorted(PASSES)


def get_pass_class(name: str):
    """The pass class registered under `name`; KeyError when there is none."""
    module, cls = PASSES[name].split(":")
    return getattr(importlib.import_module(f"imc.passes.{module}"), cls)
