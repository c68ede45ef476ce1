"""benchmarks/aihwkit_compare.py says plainly whether aihwkit's figure was
measured (aihwkit installed) or cited (not installed)."""

import importlib.util
import os
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "aihwkit_compare.py")


def _load():
    spec = importlib.util.spec_from_file_location("aihwkit_compare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cited_figure_is_labelled_when_aihwkit_is_absent(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "aihwkit", None)  # import aihwkit -> ImportError
    script = _load()
    assert script.aihwkit_error(batch=2) is None
    monkeypatch.setattr(script, "chips", lambda: {})  # the imc side is not under test here
    assert script.main(["--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "aihwkit (CITED, not measured)" in out
    assert "not installed, so nothing was run on it" in out
    assert "(measured here)" not in out


def test_measured_when_aihwkit_is_installed(capsys):
    pytest.importorskip("aihwkit")
    script = _load()
    version, err = script.aihwkit_error(batch=8)
    assert 0 < err < 1
