"""The fuzz suite: mutated IR, hardware files and command lines through the tools.

`test_fuzz_campaign` runs IMC_FUZZ_CASES cases (2,000 by default, the CI
budget) of campaign IMC_FUZZ_SEED and fails with one minimized reproducer per
failure class; the other tests check that the harness sees each kind of
failure (an escaped exception, a printed traceback, an internal error, a bad
exit status, a crash, a hang) and that cases are reproducible.

Long run: `IMC_FUZZ_CASES=20000 IMC_FUZZ_JOBS=2 python -m pytest -q -s test/python/test_fuzz.py -k campaign`
(or `python test/python/fuzzing.py --cases 20000`); see docs/testing.md.
"""

import sys

import pytest

import fuzzing
from fuzz_cases import Case, Corpus, make_case
from fuzzing import Pool, minimize, settings_from_env


@pytest.fixture(scope="module")
def pool():
    with Pool(1, timeout=3.0) as p:
        yield p


def _selftest(*argv, files=None) -> Case:
    return Case(0, "selftest", "harness", list(argv), files or {})


@pytest.mark.parametrize(
    "argv, status, signature",
    [
        (["diagnostic"], "ok", ""),
        (["exit", "2"], "ok", ""),
        (["raise"], "traceback", "ZeroDivisionError escapes test/python/fuzzing.py:_selftest"),
        (["memory"], "traceback", "MemoryError escapes"),
        (["print-traceback"], "traceback", "ValueError traceback printed (x.py:f)"),
        (["internal"], "internal-error", "internal error: selftest: internal error: please report"),
        (["exit", "3"], "bad-exit", "exit status 3 from selftest"),
        (["segv"], "crash", "worker died: SIGSEGV (in test/python/fuzzing.py:_selftest)"),
        (["hang"], "hang", "no answer after 3 s of CPU time (in test/python/fuzzing.py:_selftest)"),
    ],
)
def test_oracle_sees_each_kind_of_failure(pool, argv, status, signature):
    out = pool.run(_selftest(*argv))
    assert out.status == status, out.output
    assert out.signature.startswith(signature)


def test_pool_goes_on_after_a_crash(pool):
    outs = [o for _, o in pool.map([_selftest("segv"), _selftest("diagnostic"), _selftest("raise")])]
    assert sorted(o.status for o in outs) == ["crash", "ok", "traceback"]


def test_cases_depend_only_on_seed_and_index():
    corpus = Corpus.load()
    assert make_case(3, 41, corpus) == make_case(3, 41, corpus)
    assert [make_case(0, i, corpus) for i in range(20)] != [make_case(1, i, corpus) for i in range(20)]
    kinds = {make_case(0, i, corpus).tool for i in range(300)}
    assert {"imc-opt", "imc-run", "imc-compile", "hardware-loader"} <= kinds


def test_minimize_keeps_the_failure_and_drops_the_rest(pool):
    lines = [f"line {i}".encode() for i in range(60)]
    lines[37] = b"BOOM"
    case = Case(0, "selftest", "harness", ["file", "a.txt", "--junk", "x"],
                {"a.txt": b"\n".join(lines), "b.txt": b"unused"})
    signature = pool.run(case).signature
    assert signature.startswith("KeyError escapes")
    small = minimize(case, signature, pool)
    assert small.files == {"a.txt": b"BOOM"}
    assert small.argv == ["file", "a.txt"]


def test_fuzz_campaign():
    """Clean success or a clean diagnostic on every case (fails listing one reproducer per class)."""
    settings = settings_from_env()
    report = fuzzing.fuzz(**settings, progress=lambda s: print(s, file=sys.stderr, flush=True))
    print(report)
    assert report.cases == settings["cases"]
    assert report.failed == 0, f"\n{report}"
