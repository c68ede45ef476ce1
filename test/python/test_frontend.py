"""Tests for imc.frontend.importer (PyTorch -> linalg import) and the imc.frontend.models zoo."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest
import torch
from torch import nn

from torch_mlir import ir

from imc.frontend import models
from imc.frontend.importer import (
    FastLiteralHooks,
    ImportTimings,
    constant_to_numpy,
    import_torch,
    layer_name,
)
from imc.transforms.pipeline import CompileError

CONTRACTIONS = (
    "linalg.matmul",
    "linalg.batch_matmul",
    "linalg.conv_2d_nchw_fchw",
    "linalg.depthwise_conv_2d_nchw_chw",
    "linalg.conv_2d_ngchw_gfchw",
)


def _walk(module: ir.Module) -> list[ir.Operation]:
    """All operations nested in ``module`` (pre-order)."""
    ops: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        ops.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return ops[1:]  # drop the builtin.module itself


def _is_contraction(op: ir.Operation) -> bool:
    return op.name in CONTRACTIONS or op.name.startswith(("linalg.conv", "linalg.depthwise"))


def _constant_of(value: ir.Value) -> np.ndarray | None:
    """NumPy value of ``value`` if it is produced by a dense ``arith.constant``."""
    owner = value.owner
    if isinstance(owner, ir.OpView):
        owner = owner.operation
    if not isinstance(owner, ir.Operation) or owner.name != "arith.constant":
        return None
    attr = owner.attributes["value"]
    if not isinstance(attr, ir.DenseElementsAttr):
        return None
    return constant_to_numpy(attr)


class _Imported:
    def __init__(self, name: str) -> None:
        self.model = models.create(name)
        self.inputs = models.example_inputs(name)
        self.timings = ImportTimings()
        # As PyTorch has it: BatchNorm left unfolded, every parameter a constant.
        self.module = import_torch(self.model, self.inputs, timings=self.timings, fold_batchnorm=False)
        self.ops = _walk(self.module)


_cache: dict[str, _Imported] = {}


@pytest.fixture(params=sorted(models.ZOO))
def imported(request) -> _Imported:
    """Each zoo model imported once per test session."""
    if request.param not in _cache:
        _cache[request.param] = _Imported(request.param)
    return _cache[request.param]


# --------------------------------------------------------------------------- #
# Zoo models through the frontend
# --------------------------------------------------------------------------- #


def test_zoo_module_verifies_and_is_fully_lowered(imported):
    assert imported.module.operation.verify()
    names = {op.name for op in imported.ops}
    leftover = sorted(n for n in names if n.startswith(("torch.", "torch_c.")))
    assert not leftover, f"torch ops left after lowering: {leftover}"
    assert any(_is_contraction(op) for op in imported.ops), sorted(names)
    func = imported.module.body.operations[0]
    assert func.operation.name == "func.func"
    assert func.attributes["sym_name"].value == "main"


def test_zoo_weights_are_constants_with_torch_values(imported):
    """Every >=2-d parameter appears, bit-exact, as a dense arith.constant.

    Canonicalization may fold a reshape into the constant (depthwise filters
    ``(C, 1, kh, kw)`` become ``(C, kh, kw)``), so values are compared after
    reshaping to the constant's shape.
    """
    constants: dict[int, list[np.ndarray]] = {}
    for op in imported.ops:
        if op.name == "arith.constant" and isinstance(
            op.attributes["value"], ir.DenseElementsAttr
        ):
            array = constant_to_numpy(op.attributes["value"])
            constants.setdefault(array.size, []).append(array)
    for name, param in imported.model.named_parameters():
        if param.ndim < 2:
            continue  # biases / norm scales may be folded with other constants
        expected = param.detach().numpy()
        candidates = constants.get(expected.size, [])
        assert any(np.array_equal(c, expected.reshape(c.shape)) for c in candidates), (
            f"parameter {name} {tuple(expected.shape)} not found as arith.constant"
        )


def test_zoo_contractions_are_located_in_model_source(imported):
    source = inspect.getsourcefile(type(imported.model))
    assert os.sep + os.path.join("imc", "frontend", "models") + os.sep in source
    for op in imported.ops:
        if _is_contraction(op):
            loc = str(op.location)
            assert source in loc, f"{op.name} at {loc}, expected {source}"
            label = layer_name(op.location)
            assert label and label != "<unknown>", loc


def test_resnet18_convs_use_their_own_weight_constant():
    """Conv weights feed the conv directly and match the module named by the loc."""
    imp = _cache.get("resnet18") or _cache.setdefault("resnet18", _Imported("resnet18"))
    params = dict(imp.model.named_parameters())
    convs = [op for op in imp.ops if op.name == "linalg.conv_2d_nchw_fchw"]
    assert len(convs) == 20  # 1 stem + 16 in blocks + 3 downsample
    for conv in convs:
        label = layer_name(conv.location)
        weight = _constant_of(conv.operands[1])
        assert weight is not None, f"{label}: conv filter is not an arith.constant"
        np.testing.assert_array_equal(weight, params[f"{label}.weight"].detach().numpy())
    matmuls = [op for op in imp.ops if op.name == "linalg.matmul"]
    assert [layer_name(op.location) for op in matmuls] == ["fc"]


# --------------------------------------------------------------------------- #
# Fast weights
# --------------------------------------------------------------------------- #


def _count_large_tolist(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = torch.Tensor.tolist

    def counting_tolist(self):
        if self.numel() > 1000:
            calls.append(self.numel())
        return original(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counting_tolist)
    return calls


def test_fast_path_does_not_call_tolist_on_large_tensors(monkeypatch):
    from torch_mlir import fx

    model, inputs = models.create("lenet5"), models.example_inputs("lenet5")
    calls = _count_large_tolist(monkeypatch)
    # Sanity check of the counter: the stock importer does use tolist().
    fx.export_and_import(model, *inputs, output_type="linalg-on-tensors")
    assert calls, "counter saw no tolist() calls in the stock import"
    calls.clear()
    import_torch(model, inputs)
    assert calls == [], f"tolist() called on tensors of sizes {calls}"


class _Dtypes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.w32 = nn.Parameter(torch.randn(8, 8, generator=g))
        self.w16 = nn.Parameter(torch.randn(8, 8, generator=g).half())
        self.wbf = nn.Parameter(torch.randn(8, 8, generator=g).bfloat16())
        self.register_buffer("idx", torch.tensor([7, 0, 3, 3, 1]))
        self.register_buffer("mask", torch.tensor([True, False, True, True, False, True, False, True]))

    def forward(self, x):
        a = x @ self.w32
        b = (x.half() @ self.w16).float()
        c = (x.bfloat16() @ self.wbf).float()
        return (a + b + c).masked_fill(self.mask, 0.0)[:, self.idx]


def test_literal_dtypes_round_trip():
    model = _Dtypes()
    module = import_torch(model, (torch.randn(2, 8),))
    assert module.operation.verify()
    by_type: dict[str, list[ir.DenseElementsAttr]] = {}
    for op in _walk(module):
        if op.name == "arith.constant" and isinstance(op.attributes["value"], ir.DenseElementsAttr):
            attr = op.attributes["value"]
            by_type.setdefault(str(attr.type), []).append(attr)
    np.testing.assert_array_equal(
        constant_to_numpy(by_type["tensor<8x8xf32>"][0]), model.w32.detach().numpy()
    )
    np.testing.assert_array_equal(
        constant_to_numpy(by_type["tensor<8x8xf16>"][0]), model.w16.detach().numpy()
    )
    np.testing.assert_array_equal(constant_to_numpy(by_type["tensor<5xi64>"][0]), model.idx.numpy())
    np.testing.assert_array_equal(constant_to_numpy(by_type["tensor<8xi1>"][0]), model.mask.numpy())
    # bf16 is imported, but NumPy (without ml_dtypes) cannot represent it.
    assert "tensor<8x8xbf16>" in by_type
    with pytest.raises(TypeError, match="bf16"):
        constant_to_numpy(by_type["tensor<8x8xbf16>"][0])


def test_constant_to_numpy_is_a_view_and_expands_splats():
    with ir.Context(), ir.Location.unknown():
        data = np.arange(12, dtype=np.float32).reshape(3, 4)
        attr = ir.DenseElementsAttr.get(data)
        view = constant_to_numpy(attr)
        np.testing.assert_array_equal(view, data)
        assert not view.flags.owndata  # buffer-protocol view, no copy
        f32 = ir.F32Type.get()
        splat = ir.DenseElementsAttr.get_splat(
            ir.RankedTensorType.get([2, 3], f32), ir.FloatAttr.get(f32, 1.5)
        )
        np.testing.assert_array_equal(constant_to_numpy(splat), np.full((2, 3), 1.5, np.float32))
        with pytest.raises(TypeError, match="DenseElementsAttr"):
            constant_to_numpy(ir.FloatAttr.get(f32, 1.0))


def test_hooks_leave_scalars_to_stock_path():
    hooks = FastLiteralHooks()
    assert hooks.resolve_literal(None, 3, None) is None  # scalars: stock path


# --------------------------------------------------------------------------- #
# Non-persistent buffers, callables, export modes
# --------------------------------------------------------------------------- #


class _PositionIds(nn.Module):
    """Minimal reproduction of HuggingFace BERT's non-persistent position_ids."""

    def __init__(self, n: int = 16, hidden: int = 8) -> None:
        super().__init__()
        self.emb = nn.Embedding(n, hidden)
        self.register_buffer("position_ids", torch.arange(n).expand((1, -1)), persistent=False)

    def forward(self, x):
        return x + self.emb(self.position_ids[:, : x.shape[1]])


def test_non_persistent_buffer_imports():
    model = _PositionIds()
    assert "position_ids" not in model.state_dict()
    module = import_torch(model, (torch.randn(1, 10, 8),))
    assert module.operation.verify()
    ints = [
        constant_to_numpy(op.attributes["value"])
        for op in _walk(module)
        if op.name == "arith.constant"
        and isinstance(op.attributes["value"], ir.DenseIntElementsAttr)
        and ir.ShapedType(op.attributes["value"].type).rank > 0
    ]
    expected = model.position_ids[:, :10].numpy()
    assert any(
        a.shape == expected.shape and np.array_equal(a, expected)
        or a.shape == model.position_ids.shape and np.array_equal(a, model.position_ids.numpy())
        for a in ints
    ), [a.shape for a in ints]


def test_plain_callable_is_wrapped():
    weight = torch.randn(4, 3)

    def f(x):
        return torch.relu(x @ weight)

    module = import_torch(f, (torch.randn(2, 4),))
    ops = _walk(module)
    assert any(op.name == "linalg.matmul" for op in ops)
    with pytest.raises(TypeError, match="nn.Module or callable"):
        import_torch(42, (torch.randn(1),))


def test_context_argument_is_used():
    context = ir.Context()
    module = import_torch(models.create("mlp"), models.example_inputs("mlp"), context=context)
    assert module.context is context


def test_strict_export_mode():
    timings = ImportTimings()
    module = import_torch(
        models.create("mlp"), models.example_inputs("mlp"), strict=True, timings=timings
    )
    assert timings.strict is True
    assert module.operation.verify()


class _DataDependent(nn.Module):
    def forward(self, x):
        if x.sum().item() > 0:  # data-dependent Python control flow
            return x * 2
        return x


def test_export_failure_names_the_model():
    with pytest.raises(CompileError, match="_DataDependent"):
        import_torch(_DataDependent(), (torch.ones(3),), strict=False)


# --------------------------------------------------------------------------- #
# Locations
# --------------------------------------------------------------------------- #


def test_layer_name_forms():
    with ir.Context() as ctx:
        file_loc = ir.Location.file("/src/net/model.py", 42, 7)
        caller = ir.Location.file("/src/net/main.py", 3, 0)
        call = ir.Location.callsite(file_loc, [caller])
        assert layer_name(file_loc) == "model.py:42"
        assert layer_name(call) == "model.py:42"
        assert layer_name(ir.Location.name("layer1.0.conv1", childLoc=call)) == "layer1.0.conv1"
        assert layer_name(ir.Location.name("fc")) == "fc"
        fused = ir.Location.fused([ir.Location.name("fc", childLoc=file_loc), caller], context=ctx)
        assert layer_name(fused) == "fc"
        assert layer_name(ir.Location.unknown()) == "<unknown>"
        assert layer_name(str(file_loc)) == "model.py:42"


def test_locations_skip_torch_frames_and_survive_lowering():
    """conv and linear ops point at the user's forward(), not torch/nn/modules."""

    class ConvLinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            y = torch.relu(self.conv(x))  # conv line
            return self.fc(y.flatten(1))  # fc line

    lines, start = inspect.getsourcelines(ConvLinear.forward)
    conv_line = start + next(i for i, l in enumerate(lines) if "# conv line" in l)
    fc_line = start + next(i for i, l in enumerate(lines) if "# fc line" in l)
    module = import_torch(ConvLinear().eval(), (torch.randn(1, 3, 6, 6),))
    text = module.operation.get_asm(enable_debug_info=True, large_elements_limit=4)
    assert "torch/nn/modules" not in text
    ops = {op.name: op for op in _walk(module)}
    this_file = os.path.basename(__file__)
    conv_loc = str(ops["linalg.conv_2d_nchw_fchw"].location)
    fc_loc = str(ops["linalg.matmul"].location)
    assert f'{this_file}":{conv_line}:' in conv_loc, conv_loc
    assert f'{this_file}":{fc_line}:' in fc_loc, fc_loc
    assert layer_name(ops["linalg.conv_2d_nchw_fchw"].location) == "conv"
    assert layer_name(ops["linalg.matmul"].location) == "fc"


# --------------------------------------------------------------------------- #
# Zoo definitions
# --------------------------------------------------------------------------- #


def test_zoo_is_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = models.create("lenet5", seed=3).state_dict()
    b = models.create("lenet5", seed=3).state_dict()
    c = models.create("lenet5", seed=4).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])
    with pytest.raises(KeyError, match="unknown model 'vgg'"):
        models.create("vgg")


def test_zoo_models_run_in_eval_mode():
    for name in models.ZOO:
        if name in ("resnet18", "mobilenet_v2"):
            continue  # covered by the import tests; keep this test quick
        model = models.create(name)
        assert not model.training
        out = model(*models.example_inputs(name))
        assert torch.isfinite(out).all()


def test_torchvision_equivalent_structure():
    """Parameter counts and key shapes published for torchvision's models."""
    resnet = models.create("resnet18")
    assert sum(p.numel() for p in resnet.parameters()) == 11_689_512
    shapes = {k: tuple(v.shape) for k, v in resnet.state_dict().items()}
    assert shapes["conv1.weight"] == (64, 3, 7, 7)
    assert shapes["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert shapes["layer4.1.bn2.running_var"] == (512,)
    assert shapes["fc.weight"] == (1000, 512)
    assert len(shapes) == 122  # torchvision resnet18 state_dict has 122 entries
    mobilenet = models.create("mobilenet_v2")
    assert sum(p.numel() for p in mobilenet.parameters()) == 3_504_872
    mshapes = {k: tuple(v.shape) for k, v in mobilenet.state_dict().items()}
    assert mshapes["features.0.0.weight"] == (32, 3, 3, 3)
    assert mshapes["features.1.conv.0.0.weight"] == (32, 1, 3, 3)  # depthwise
    assert mshapes["features.18.0.weight"] == (1280, 320, 1, 1)
    assert mshapes["classifier.1.weight"] == (1000, 1280)
    assert models.create("resnet18", num_classes=10).fc.out_features == 10


def test_bert_encoder_has_non_persistent_position_ids():
    model = models.create("bert_encoder")
    assert "embeddings.position_ids" in dict(model.named_buffers())
    assert "embeddings.position_ids" not in model.state_dict()
