"""The transforms layer, beside the passes (`passes/`, `imc.passes`, one pass
per file): the pass base class (`pass_base`), the pass manager that mixes imc
and upstream passes (`pipeline`), and the planners the passes use (`placement`,
`row_slabs`, `line_buffer`, `row_epilogue`, `row_attention`, `in_place`,
`allocator`, `buffer_check`). Imports only the IR layer below it."""
