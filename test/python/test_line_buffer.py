"""A pooling or convolution fused into its producer conv's row loop through
a line buffer (`imc-tile-rows{line-buffers}`, `imc.transforms.line_buffer`): the
producer's output is never stored, each of its rows is computed once, and
the result is PyTorch's."""

import re

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import imc
from imc.frontend import models
from imc.ir.hardware import Hardware
from test_tile_rows import ConvBlock  # conv-BN-ReLU, conv-BN, residual add, ReLU

DEFAULT = Hardware.preset("default")
TILED = "builtin.module(imc-tiled)"
UNFUSED = "builtin.module(imc-tile-rows{line-buffers=false}, imc-default)"


class Stem(torch.nn.Module):
    """conv -> batch norm -> ReLU -> max pooling (ResNet's stem, small)."""

    def __init__(self, cin=3, cout=8, k=7, stride=2, pool=(3, 2, 1)):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        self.bn = torch.nn.BatchNorm2d(cout)
        self.pool = torch.nn.MaxPool2d(pool[0], stride=pool[1], padding=pool[2])

    def forward(self, x):
        return self.pool(torch.relu(self.bn(self.conv(x))))


def _stored(compiled) -> int:
    text = next(str(r) for r in compiled.remarks if "stored tensors over" in str(r))
    return int(re.search(r"(\d+) stored tensors over", text).group(1))


def _verified(compiled) -> bool:
    return any("placement verified" in str(r) for r in compiled.remarks)


def _fused_unfused_plain(model, x, hw, *, same_mvms=True, fused_pipeline=TILED):
    """The three programs of `model`, each checked against PyTorch; the fused
    one placed and proved, with (`same_mvms`) the untiled program's crossbar
    work. Returns (fused, unfused, plain)."""
    ref = model(x)
    fused = imc.compile(model, (x,), hardware=hw, pipeline=fused_pipeline)
    unfused = imc.compile(model, (x,), hardware=hw, pipeline=UNFUSED)
    plain = imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-default)")
    for c in (fused, unfused, plain):
        torch.testing.assert_close(c(x), ref, rtol=1e-4, atol=1e-5)
    assert _verified(fused)
    if same_mvms:  # each row computed once: the crossbars do the untiled program's work
        assert fused.report.totals.mvm_count == plain.report.totals.mvm_count
    return fused, unfused, plain


def _dram(compiled) -> int:
    return compiled.report.totals.dram_read_bytes + compiled.report.totals.dram_write_bytes


def test_stem_pooling_runs_in_the_conv_loop_without_recomputation():
    torch.manual_seed(0)
    hw = DEFAULT.replace(spad_bytes=4096)  # the 8 KB conv output does not fit
    fused, unfused, _ = _fused_unfused_plain(Stem().eval(), torch.randn(1, 3, 64, 64), hw)
    assert any("line buffer" in str(r) for r in fused.remarks)
    # The conv -> pooling tensor is no longer stored.
    assert _stored(fused) == _stored(unfused) - 1
    assert _dram(fused) < _dram(unfused)


def test_lenet_pools_fuse_without_a_carried_row():
    # 2x2 stride-2 pooling without padding: the trip's rows are the whole window.
    model, inputs = models.create("lenet5").eval(), models.example_inputs("lenet5")
    hw = DEFAULT.replace(spad_bytes=4096)
    fused = imc.compile(model, inputs, hardware=hw, pipeline=TILED)
    ref = model(*inputs)
    assert float((fused(*inputs) - ref).abs().max() / ref.abs().max()) < 1e-5
    remarks = [str(r) for r in fused.remarks if "fused" in str(r)]
    assert remarks and all("0 rows before them" in r for r in remarks)
    assert "tensor<1x6x0x" not in fused.mlir  # no empty line buffer is carried
    assert _verified(fused)


class InvertedResidual(torch.nn.Module):
    """MobileNetV2's block: expand 1x1, depthwise 3x3 (stride 2 here by
    default), project 1x1; with `residual`, plus the input (stride 1)."""

    def __init__(self, cin=8, expand=4, cout=8, stride=2, residual=False):
        super().__init__()
        self.residual = residual
        hidden = cin * expand
        self.expand = torch.nn.Sequential(torch.nn.Conv2d(cin, hidden, 1, bias=False), torch.nn.BatchNorm2d(hidden), torch.nn.ReLU6())
        self.depthwise = torch.nn.Sequential(
            torch.nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            torch.nn.BatchNorm2d(hidden),
            torch.nn.ReLU6(),
        )
        self.project = torch.nn.Sequential(torch.nn.Conv2d(hidden, cout, 1, bias=False), torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


def test_depthwise_conv_runs_in_the_expand_loop():
    torch.manual_seed(1)
    hw = DEFAULT.replace(spad_bytes=8192)  # the 32 KB expanded tensor does not fit
    fused, unfused, _ = _fused_unfused_plain(InvertedResidual().eval(), torch.randn(1, 8, 32, 32), hw)
    assert any("'linalg.depthwise_conv_2d_nchw_chw' fused" in str(r) for r in fused.remarks)
    # The projection (1x1) runs on each trip's rows too: the depthwise output is not stored either.
    assert any("then the 1x1 convolution" in str(r) for r in fused.remarks)
    assert _stored(fused) == _stored(unfused) - 2
    assert _dram(fused) < _dram(unfused)


def _trained_batch_norms(model):
    """Non-trivial running statistics and affine parameters (fresh ones fold to a zero bias)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
    return model


def test_folded_biases_are_built_per_tile_in_the_fused_loop():
    # Folded batch norms give the expansion, depthwise and projection convs a
    # bias: each one's init is the bias broadcast over its rows, which every
    # trip builds for its own rows (nothing computed whole before the loop),
    # so the block still runs in one loop and stores nothing.
    torch.manual_seed(2)
    hw = DEFAULT.replace(spad_bytes=8192)
    model = _trained_batch_norms(InvertedResidual(stride=1, residual=True)).eval()
    fused, unfused, _ = _fused_unfused_plain(model, torch.randn(1, 8, 32, 32), hw, same_mvms=False)
    assert any("then the 1x1 convolution" in str(r) for r in fused.remarks)
    assert _stored(fused) == _stored(unfused) - 2
    text = fused.mlir
    loop = text.index("scf.for")
    assert text.count("linalg.broadcast", 0, loop) == 0  # no bias broadcast before the loop
    assert text.count("linalg.broadcast", loop) >= 3  # one per conv on each trip's rows


def test_stride_1_block_runs_expansion_depthwise_and_projection_in_one_loop():
    # MobileNetV2's stride-1 block: the depthwise conv runs one row behind the
    # expansion, and its batch norm, ReLU6 and the 1x1 projection run on each
    # trip's rows too: neither the expanded nor the depthwise tensor is stored.
    torch.manual_seed(4)
    hw = DEFAULT.replace(spad_bytes=8192)  # the 32 KB expanded tensor does not fit
    model, x = InvertedResidual(stride=1, residual=True).eval(), torch.randn(1, 8, 32, 32)
    fused, unfused, plain = _fused_unfused_plain(model, x, hw, same_mvms=False)
    assert any("then the 1x1 convolution" in str(r) for r in fused.remarks)
    assert _stored(fused) == _stored(unfused) - 2
    assert _dram(fused) < _dram(unfused)
    # Each row once, but the first trip's row above the output (dropped) for
    # the depthwise conv and the projection after it.
    mvms = lambda c, layer: c.report.layers[layer].counters.mvm_count  # noqa: E731
    assert mvms(fused, "expand.0") == mvms(plain, "expand.0")
    assert mvms(fused, "project.0") == mvms(plain, "project.0") * 33 // 32


@settings(max_examples=6, deadline=None)
@given(
    size=st.sampled_from([8, 12, 16]),
    k=st.sampled_from([1, 3]),
    stride=st.sampled_from([1, 2]),
    pool=st.sampled_from([(2, 2, 0), (3, 2, 1), (2, 2, 1), (3, 1, 1)]),
    spad=st.sampled_from([1024, 4096, 65536]),
    trained=st.booleans(),  # batch norms that fold to a non-zero bias (the conv's init, built per tile)
)
def test_random_conv_pool_chains_are_placed_proved_and_exact(size, k, stride, pool, spad, trained):
    torch.manual_seed(size + k + stride + spad)
    model, x = Stem(cin=4, cout=4, k=k, stride=stride, pool=pool), torch.randn(1, 4, size, size)
    model = (_trained_batch_norms(model) if trained else model).eval()
    compiled = imc.compile(model, (x,), hardware=DEFAULT.replace(spad_bytes=spad), pipeline=TILED)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    assert _verified(compiled)


@settings(max_examples=6, deadline=None)
@given(
    size=st.sampled_from([8, 16]),
    expand=st.sampled_from([2, 4]),
    stride=st.sampled_from([1, 2]),
    spad=st.sampled_from([2048, 65536]),
    residual=st.booleans(),
    trained=st.booleans(),  # batch norms that fold to non-zero biases
)
def test_random_inverted_residuals_are_placed_proved_and_exact(size, expand, stride, spad, residual, trained):
    torch.manual_seed(size + expand + stride)
    block = InvertedResidual(cin=4, expand=expand, cout=4, stride=stride, residual=residual and stride == 1)
    model, x = (_trained_batch_norms(block) if trained else block).eval(), torch.randn(1, 4, size, size)
    compiled = imc.compile(model, (x,), hardware=DEFAULT.replace(spad_bytes=spad), pipeline=TILED)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    assert _verified(compiled)


def test_stride_1_conv_runs_one_row_behind():
    # A ResNet block (test_tile_rows.ConvBlock): conv2 reads a row conv1's
    # next trip computes, so it runs 1 row behind, its last row on the last
    # trip, and computes 1 dropped row on the first.
    torch.manual_seed(2)
    hw = DEFAULT.replace(spad_bytes=4096)  # the 8 KB conv1 output does not fit
    # (without crossbar copies, to count the programs against `imc-default`'s)
    no_copies = "builtin.module(imc-tile-rows, imc-default)"
    fused, unfused, plain = _fused_unfused_plain(
        ConvBlock().eval(), torch.randn(1, 8, 32, 32), hw, same_mvms=False, fused_pipeline=no_copies
    )
    assert any("1 rows behind" in str(r) for r in fused.remarks)
    assert _stored(fused) == _stored(unfused) - 1
    assert _dram(fused) < _dram(unfused)
    # The last-trip copy of conv2 programs no crossbar of its own.
    assert fused.report.totals.xbar_program_events == plain.report.totals.xbar_program_events
    # conv1's rows once; conv2's 32 rows plus the one dropped row.
    mvms = lambda c, layer: c.report.layers[layer].counters.mvm_count  # noqa: E731
    assert mvms(fused, "conv2") == mvms(plain, "conv2") * 33 // 32
    assert mvms(fused, "conv1") == mvms(plain, "conv1")


def test_last_trip_copy_stays_on_the_interpreter_fast_path(monkeypatch):
    # The last-trip copy of a lagging reader re-derives its weight views once
    # per call: warm calls still take the fused fast path (no re-validation
    # by the slow path) and count what the first warm call counted.
    from imc.sim.interpreter import imc as interp_imc

    torch.manual_seed(3)
    model, x = ConvBlock().eval(), torch.randn(1, 8, 32, 32)
    compiled = imc.compile(model, (x,), hardware=DEFAULT.replace(spad_bytes=4096), pipeline=TILED)
    compiled(x)
    compiled(x)
    warm = compiled.report.totals.mvm_count
    validations = []
    real = interp_imc.ContractionGroup._validate
    monkeypatch.setattr(interp_imc.ContractionGroup, "_validate", lambda self, *a: validations.append(1) or real(self, *a))
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    assert not validations
    assert compiled.report.totals.mvm_count == warm * 3 // 2


class DownsampleBlock(torch.nn.Module):
    """torchvision's BasicBlock with a downsample branch: conv-BN-ReLU,
    conv-BN, plus a 1x1 conv-BN of the block's input (stride `stride`), ReLU."""

    def __init__(self, cin=4, cout=8, stride=2):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.down = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride=stride, bias=False), torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.down(x))


@settings(max_examples=8, deadline=None)
@given(
    cin=st.sampled_from([3, 8]),
    cout=st.sampled_from([8, 16]),
    size=st.sampled_from([8, 12, 16]),
    stride=st.sampled_from([1, 2]),
    rows=st.sampled_from([1, 2, 4]),
    spad=st.sampled_from([4096, 65536]),
)
def test_downsample_branch_runs_in_the_block_loop_row_by_row(cin, cout, size, stride, rows, spad):
    # The 1x1 downsample conv moves into the loop of conv1 and conv2 (its
    # stage is not tiled on its own): each trip computes the branch's rows
    # from the block input's rows conv1 reads and keeps the one row conv2's
    # lag needs on the next trip, so the branch's output is never stored and
    # each of its rows is computed once.
    assume(rows < size // stride)  # (one trip: nothing runs behind)
    torch.manual_seed(cin + cout + size + stride + rows)
    model = _trained_batch_norms(DownsampleBlock(cin, cout, stride)).eval()
    x = torch.randn(1, cin, size, size)
    hw = DEFAULT.replace(spad_bytes=spad)
    fused = imc.compile(model, (x,), hardware=hw, pipeline=f"builtin.module(imc-tile-rows{{rows={rows}}}, imc-default)")
    plain = imc.compile(model, (x,), hardware=hw, pipeline="builtin.module(imc-default)")
    ref = model(x)
    for c in (fused, plain):
        torch.testing.assert_close(c(x), ref, rtol=1e-4, atol=1e-5)
    assert _verified(fused)
    assert _stored(fused) < _stored(plain)
    assert any("downsample branch (layer 'down.0'" in str(r) for r in fused.remarks)
    mvms = lambda c, layer: c.report.layers[layer].counters.mvm_count  # noqa: E731
    assert mvms(fused, "down.0") == mvms(plain, "down.0")
    assert mvms(fused, "conv1") == mvms(plain, "conv1")
