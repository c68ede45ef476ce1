# -*- Python -*-
"""lit configuration for imc: `.mlir` and `.py` tests under test/."""

import os
import shutil
import sys

import lit.formats

config.name = "imc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.test_source_root, "Output")
# pytest files and helpers live in test/python; lit runs the rest.
config.excludes = ["python", "Inputs", "lit.cfg.py", "conftest.py", "Output"]

python = sys.executable
bindir = os.path.dirname(python)


def tool(name):
    found = shutil.which(name, path=bindir + os.pathsep + os.environ.get("PATH", ""))
    if not found:
        lit_config.fatal(f"'{name}' not found: install imc with `pip install -e .[test]`")
    return found


config.substitutions.append(("%PYTHON", python))
config.substitutions.append(("imc-opt", tool("imc-opt")))
config.substitutions.append(("imc-run", tool("imc-run") if shutil.which("imc-run", path=bindir) else "imc-run"))
config.substitutions.append(("FileCheck", tool("filecheck")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(("%repo", os.path.dirname(config.test_source_root)))

config.environment["PYTHONUNBUFFERED"] = "1"
for var in ("HOME", "PATH", "PYTHONPATH", "TMPDIR", "IMC_DEBUG"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
