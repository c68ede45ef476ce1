"""Benchmark: NumPy reference interpreter vs PyTorch eager (CPU).

Prints, for ResNet-18 (1x3x224x224) and a BERT-base-sized encoder (12 layers,
hidden 768, seq 128): eager time, interpreter time, ratio, and max abs error.
Uses ``imc.models.resnet18()`` / ``imc.models.bert_encoder()`` when available,
else the inline definitions below.

    python benchmarks/interpreter.py [--repeat N] [--only resnet18|bert]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
from torch_mlir import fx

from imc.interpreter import Interpreter


class _BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """torchvision-style ResNet-18 (torchvision is not a dependency)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class BertEncoder(nn.Module):
    """BERT-base-like encoder: 12 post-LN layers, hidden 768, 12 heads, GELU FFN 3072."""

    def __init__(self, layers=12, hidden=768, heads=12, ffn=3072):
        super().__init__()
        layer = nn.TransformerEncoderLayer(hidden, heads, ffn, dropout=0.0, activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x):
        return self.enc(x)


def _models():
    """``[(name, model, input)]``, from imc.models when importable."""
    try:
        from imc import models  # type: ignore

        bert = models.bert_encoder(layers=12, hidden=768, heads=12, max_positions=128)
        (ids,) = models.bert.bert_encoder_inputs(batch=1, seq=128)
        return [("resnet18", models.resnet18(), torch.randn(1, 3, 224, 224)), ("bert", bert, ids)], "imc.models"
    except Exception:
        return [("resnet18", ResNet18(), torch.randn(1, 3, 224, 224)),
                ("bert", BertEncoder(), torch.randn(1, 128, 768))], "inline"


def _time(fn, repeat):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench(name, model, x, repeat):
    model.eval()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    try:
        module = fx.export_and_import(model, x, output_type="linalg-on-tensors")
    except Exception as e:  # the zoo model may not be importable yet
        if name != "bert":
            raise
        print(f"bert: zoo model import failed ({type(e).__name__}: {e}); using inline BertEncoder")
        model, x = BertEncoder().eval(), torch.randn(1, 128, 768)
        module = fx.export_and_import(model, x, output_type="linalg-on-tensors")
    t_import = time.perf_counter() - t0
    interp = Interpreter(module)
    xn = x.numpy()
    t0 = time.perf_counter()
    (out,) = interp.run("main", [xn])  # first run compiles and decodes constants
    t_first = time.perf_counter() - t0
    with torch.no_grad():
        ref = model(x).numpy()
        t_eager = _time(lambda: model(x), repeat)
    t_interp = _time(lambda: interp.run("main", [xn]), repeat)
    err = float(np.max(np.abs(out - ref)))
    print(f"{name:10s} eager {t_eager * 1e3:8.1f} ms   interp {t_interp * 1e3:8.1f} ms   "
          f"ratio {t_interp / t_eager:5.2f}x   max|err| {err:.2e}   "
          f"(import {t_import:.1f} s, first run {t_first:.2f} s)", flush=True)
    return t_eager, t_interp


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--only", choices=("resnet18", "bert"))
    a = p.parse_args(argv)
    torch.manual_seed(0)
    cases, src = _models()
    print(f"models from {src}; torch threads {torch.get_num_threads()}")
    for name, model, x in cases:
        if a.only in (None, name):
            bench(name, model, x, a.repeat)


if __name__ == "__main__":
    main()
