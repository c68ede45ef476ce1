"""Benchmark: the imc reference interpreter vs PyTorch eager (CPU), side by side.

For ResNet-18 (batch 1, 3x224x224) and BERT-base (sequence 128: transformers'
`BertModel(BertConfig())` when installed, else the zoo encoder at BERT-base
size) prints, measured in one run:

* eager: PyTorch eager CPU time (no_grad, best of N);
* linalg: the interpreter on the imported linalg-on-tensors IR;
* imc ideal: the interpreter on the compiled crossbar program (`imc.compile`,
  precision ideal; second and later calls, crossbars already programmed);

and the ratios to eager (target <= 3x).  With ``--general`` it also times the
compiled program with the interpreter's fast paths off (one step per op, as
before the fused crossbar contractions), on the same compiled module.

    python benchmarks/interpreter.py [--repeat N] [--only resnet18|bert] [--general]
"""

import argparse
import time
import warnings

import torch
from common import bert_base  # benchmarks/common.py

warnings.filterwarnings("ignore")


def _best(fn, repeat):
    fn()  # warm-up (weights decoded, crossbars programmed)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench(name, model, inputs, repeat, general=False):
    import imc
    from imc.context import make_context
    from imc.frontend import import_torch
    from imc.interpreter import Interpreter

    with torch.no_grad():
        t_eager, ref = _best(lambda: model(*inputs), repeat)
    ref = ref[0] if isinstance(ref, (tuple, list)) else getattr(ref, "last_hidden_state", ref)
    arrays = [x.numpy() for x in inputs]

    context = make_context()
    with context:
        linalg_module = import_torch(model, inputs, context=context)
        interp = Interpreter(linalg_module)
        t_linalg, _ = _best(lambda: interp.run("main", arrays), repeat)

    compiled = imc.compile(model, inputs)
    t_imc, out = _best(lambda: compiled(*inputs), repeat)
    out = out[0] if isinstance(out, tuple) else out
    err = float((out - ref).abs().max() / ref.abs().max())
    extra = ""
    if general:
        from imc.runtime import Runner

        runner = Runner(compiled.module, compiled.hardware, precision="ideal")
        runner.interpreter.fast_paths = False
        with compiled.context:
            t_gen, _ = _best(lambda: runner(*arrays), repeat)
        extra = f"   general path {t_gen * 1e3:.1f} ms ({t_gen / t_eager:.2f}x)"
    print(
        f"{name:<24} {t_eager * 1e3:>9.1f} {t_linalg * 1e3:>11.1f} {t_linalg / t_eager:>6.2f}x "
        f"{t_imc * 1e3:>12.1f} {t_imc / t_eager:>6.2f}x   rel err {err:.1e}{extra}"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=["resnet18", "bert"])
    p.add_argument("--general", action="store_true", help="also time the general path (fast paths off)")
    args = p.parse_args(argv)
    from imc import models

    print(f"{'model':<24} {'eager ms':>9} {'linalg ms':>11} {'ratio':>7} {'imc ideal ms':>12} {'ratio':>7}   (target <= 3x)")
    if args.only in (None, "resnet18"):
        bench("resnet18", models.create("resnet18"), models.example_inputs("resnet18"), args.repeat, args.general)
    if args.only in (None, "bert"):
        name, model, inputs = bert_base()
        bench(name, model, inputs, args.repeat, args.general)


if __name__ == "__main__":
    main()
