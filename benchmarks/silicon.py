"""Benchmark: the `metis` preset against the frames/s Axelera publishes for Metis.

ResNet-18 and ResNet-50 (v1.5), 3x224x224, batch 1, compiled for the `metis`
preset with the default pipeline (`imc-tiled`); the timeline of a stream of
warm calls (`CompiledModel.timeline`, docs/interpreter.md, "Timeline") gives
the steady-state throughput, printed next to the figure Axelera publishes
and the ratio between the two. Axelera published: the Voyager SDK model zoo
(axelera-ai-hub/voyager-sdk, docs/reference/models/model-zoo.md, "Ref PCIe
FPS": an Intel Core i9-13900K host with a Metis 1x PCIe card, a 720p H.264
video through the SDK's GStreamer pipeline, so the host's decode, resize and
PCIe transfers are in the pipeline): ResNet-18 3,904 and ResNet-50 v1.5 1,946
frames/s; the chip's peak is 209.6 TOPS (ISSCC 2024, paper 11.3).

imc compiles one instance of the model over the whole chip (4 cores, their
4 arrays and the shared scratchpad). Beside the throughput, per model: the
warm call's latency, its resource bound and the resource that sets it, the
longest dependency chain, every resource's time for one call, and the
throughput those same events would allow if the digital units were
unlimited (1e9 over the largest non-digital resource time: a bound, not a
schedule). docs/comparisons.md says why the preset and the chip differ.

    python benchmarks/silicon.py [--models resnet18 resnet50]
"""

import argparse
import warnings

warnings.filterwarnings("ignore")

# Voyager SDK model zoo, "Ref PCIe FPS" (frames/s), Metis 1x PCIe card.
AXELERA_FPS = {"resnet18": 3904, "resnet50": 1946}


def _model(name):
    from imc.frontend import models

    model = models.resnet50() if name == "resnet50" else models.create(name)
    return model, models.resnet18_inputs(size=224)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(AXELERA_FPS), choices=list(AXELERA_FPS))
    args = parser.parse_args(argv)
    import imc

    print(
        f"{'model':<10} {'imc metis inf/s':>16} {'Axelera published fps':>22} {'Axelera/imc':>12} {'warm ms':>9} "
        f"{'bound ms':>9} {'bound by':<11} {'chain ms':>9} {'no-digital inf/s':>17}  resource ms per call"
    )
    for name in args.models:
        model, inputs = _model(name)
        t = imc.compile(model, inputs, hardware="metis").timeline(inputs)
        others = max(ns for resource, ns in t.resource_ns.items() if resource != "digital")
        published = AXELERA_FPS[name]
        times = ", ".join(f"{r} {ns / 1e6:.3f}" for r, ns in t.resource_ns.items())
        print(
            f"{name:<10} {t.throughput_per_s:>16,.1f} {published:>22,} {published / t.throughput_per_s:>11.1f}x "
            f"{t.warm_makespan_ns / 1e6:>9.3f} {t.bound_ns / 1e6:>9.3f} {t.bounding_resource:<11} "
            f"{t.chain_ns / 1e6:>9.3f} {1e9 / others:>17,.1f}  {times}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
