"""ADC calibration: each `imc.mvm`'s ADC range from partial-sum statistics.

Uncalibrated, an ADC spans the largest column sum its crossbar could ever
produce (`hardware.adc_range` times rows x largest input digit x largest cell
level), so the few levels of a 6- or 8-bit ADC are spread over a range the
real partial sums hardly use. Chips calibrate instead (aihwkit's bound
management and `out_bound`; vendor flows that quantize, then compile): this
module runs the placed program once on calibration inputs in `quantized`
precision with the ADCs bypassed, records every `imc.mvm`'s partial sums
(each input cycle's column sums, before conversion), and writes the op's
`adc_full_scale` attribute from them. The interpreter then converts with
`step = adc_full_scale / (2**(adc_bits-1) - 1)` and clips beyond it.

Policies (`calibrate(..., policy=...)`, `imc.compile(..., calibrate=...)`):

* `"max"`: the largest |partial sum| seen on the calibration inputs (no
  clipping on them);
* `"pNN.N"` (e.g. `"p99.9"`): that percentile of |partial sums|, per
  execution of the op, the largest over executions (clips the rare largest
  sums for a finer step).

The same run records the range of every stored tensor where it is rounded
to the chip's `activation_bits` (`imc.quantize`, values passed through while
calibrating) and writes the op's `low`/`high`: the smallest and largest
value seen (`"max"`), or the policy's lower and upper percentiles, widened
to contain 0.

A calibrated range never exceeds the uncalibrated one. An op whose partial
sums were all zero, or that did not run, keeps `adc_full_scale = 0.0`
(uncalibrated). Input scaling needs no calibration: every input vector is
already quantized against its own largest element (docs/interpreter.md).
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from imc.dialects.imc_ops import MvmView, QuantizeView
from imc.ir.utils import insert_root, layer_name, single_user

__all__ = ["calibrate", "Calibration", "check_policy", "POLICY_HELP"]

POLICY_HELP = "'max' (largest partial sum seen) or 'pNN.N' (a percentile, e.g. 'p99.9')"


def check_policy(policy: str) -> float | None:
    """The percentile of a policy (None for 'max'); ValueError if not a policy."""
    if policy == "max":
        return None
    if isinstance(policy, str) and policy.startswith("p"):
        try:
            q = float(policy[1:])
        except ValueError:
            q = -1.0
        if 0 < q <= 100:
            return q
    raise ValueError(f"calibration policy {policy!r} is not {POLICY_HELP}")


class Calibration:
    """Recorder the interpreter fills while calibrating (`Chip.calibration`)."""

    def __init__(self, policy: str = "max"):
        self.policy = policy
        self.percentile = check_policy(policy)
        self.ops: dict[int, list] = {}  # id(op) -> [op, statistic, uncalibrated full scale]
        self.ranges: dict[int, list] = {}  # id(imc.quantize op) -> [op, low, high]

    def record(self, op, partial: np.ndarray, uncalibrated: float) -> None:
        """One execution of MVM `op`: its pre-ADC partial sums (cycles x batch x cols)."""
        if self.percentile is None:  # max |p| without an |p| array
            stat = max(float(partial.max()), -float(partial.min()))
        else:
            stat = float(np.percentile(np.abs(partial), self.percentile))
        self.record_peak(op, stat, uncalibrated)

    @property
    def takes_peaks(self) -> bool:
        """Whether the policy needs only each execution's largest |partial
        sum| (`record_peak`), not the partial sums themselves."""
        return self.percentile is None

    def record_peak(self, op, peak: float, uncalibrated: float) -> None:
        """One execution of MVM `op` whose statistic (policy "max": the
        largest |partial sum|) is `peak`."""
        entry = self.ops.get(id(op))
        if entry is None:
            self.ops[id(op)] = [op, peak, uncalibrated]
        else:
            entry[1] = max(entry[1], peak)

    def record_range(self, op, x: np.ndarray) -> None:
        """One execution of `imc.quantize` `op` on the stored tensor `x`: its
        range (or the policy's percentiles of it), widened to contain 0."""
        if x.size == 0:
            return
        if self.percentile is None:
            low, high = float(x.min()), float(x.max())
        else:
            low, high = (float(v) for v in np.percentile(x, [100.0 - self.percentile, self.percentile]))
        low, high = min(low, 0.0), max(high, 0.0)
        entry = self.ranges.get(id(op))
        if entry is None:
            self.ranges[id(op)] = [op, low, high]
        else:
            entry[1], entry[2] = min(entry[1], low), max(entry[2], high)

    def apply_ranges(self) -> int:
        """Writes `low`/`high` on every recorded `imc.quantize`; returns how
        many. The ops that round the row tiles of one tensor (a loop's, behind
        a lagging line buffer: its trips' rows and its last rows) get the
        range of them all: one scale per stored tensor."""
        groups: dict = {}
        for entry in self.ranges.values():
            groups.setdefault(_stored_into(entry[0].ir.operation), []).append(entry)
        for key, entries in groups.items():
            if key is None or len(entries) < 2:
                continue
            low, high = min(e[1] for e in entries), max(e[2] for e in entries)
            for e in entries:
                e[1], e[2] = low, high
        n = 0
        for op, low, high in self.ranges.values():
            if high <= 0.0:
                if low >= 0.0:
                    continue  # all zeros: stays uncalibrated
                high = -low  # all negative: a signed range
            QuantizeView(op.ir).set_range(low, high)
            n += 1
        return n

    def apply(self) -> dict[str, list[float]]:
        """Writes `adc_full_scale` on every recorded op with an ADC; returns,
        per layer, each op's calibrated range as a fraction of the uncalibrated one."""
        fractions: dict[str, list[float]] = {}
        for op, stat, uncalibrated in self.ops.values():
            mvm = MvmView(op.ir)
            if mvm.adc_bits <= 0 or stat <= 0:
                continue
            full_scale = min(stat, uncalibrated)
            mvm.set_adc_full_scale(full_scale)
            fractions.setdefault(layer_name(mvm.op.location), []).append(full_scale / uncalibrated)
        return fractions


def _stored_into(op):
    """The loop iteration argument whose row tiles `op` (an `imc.quantize`)
    rounds (through a trim of the tile and its insert), else None."""
    value = op.results[0]
    for _ in range(2):
        user = single_user(value)
        if user is None:
            return None
        if user.name == "tensor.insert_slice":
            root = insert_root(user.operands[1])
            return root if isinstance(root.owner, ir.Block) else None
        if user.name != "tensor.extract_slice":
            return None
        value = user.results[0]
    return None


def calibrate(module, hardware, inputs, *, policy: str = "max", seed: int = 0, entry: str = "main", runner=None) -> dict:
    """Calibrates the ADC range of every `imc.mvm` in `module` (in place) on
    `inputs` (NumPy arrays, one call). Returns the summary the report keeps:
    policy, number of calibrated MVM ops and, per layer, the mean calibrated
    range as a fraction of the uncalibrated one.

    `runner`: the model's own `imc.sim.runtime.Runner` of `module` in
    `quantized` precision that has not run yet; the calibration's call runs
    on it, which then forgets that call (`Runner.calibrated`), so the
    model's first call finds the program compiled and its fast paths worked
    out (the same values and counters as on a fresh runner). Else a runner
    of its own runs it."""
    from imc.sim.runtime import Runner

    recorder = Calibration(policy)
    own = runner is None
    if own:
        runner = Runner(module, hardware, precision="quantized", seed=seed, entry=entry)
    elif runner.chip.precision != "quantized" or runner.report.calls or runner.tracer is not None:
        raise ValueError("calibrate: runner= takes an untraced quantized Runner that has not run")
    runner.chip.calibration = recorder
    try:
        runner(*inputs)
    finally:
        runner.chip.calibration = None
        if own:
            runner.release()  # (its memory back before the model's own run programs the chip)
        else:
            runner.calibrated()  # (also after a failed call: the model's runner keeps none of it)
    fractions = recorder.apply()
    stored = recorder.apply_ranges()
    return {
        "policy": policy,
        "mvm_ops": sum(len(v) for v in fractions.values()),
        "stored_tensors": stored,
        "layers": {name: float(np.mean(v)) for name, v in fractions.items()},
    }
