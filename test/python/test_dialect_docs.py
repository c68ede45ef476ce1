"""The dialect reference (docs/dialect.md) is generated, complete and in sync.

- docs/dialect.md equals `imc.driver.docgen.render_dialect_doc()`;
- every op and type of the dialect, and every declared field, is documented;
- every op and type docstring carries an MLIR example that parses and verifies;
- every verifier rule has a negative test in test/Dialect/imc/invalid*.mlir and
  every `expected-error` there comes from a documented rule of its op (so the
  annotations must carry the whole message after `'<op>' op `).
"""

import difflib
import re
from pathlib import Path

import pytest
from torch_mlir import ir

from imc.dialects import imc as dialect
from imc.driver import docgen
from imc.ir.context import make_context

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "dialect.md"
NEGATIVE_TESTS = sorted((REPO / "test" / "Dialect" / "imc").glob("invalid*.mlir"))
REGENERATE = "python -m imc.driver.docgen > docs/dialect.md"

_EXPECTED_ERROR = re.compile(r"expected-error\s*(?:@\S+)?\s*\{\{(.*?)\}\}")
_OP_MESSAGE = re.compile(r"'(?P<op>[\w.]+)' op (?P<message>.*)", re.S)


@pytest.fixture(scope="module")
def rendered() -> str:
    return docgen.render_dialect_doc()


def _sections(doc: str) -> dict[str, str]:
    """`### ` heading's code span -> the text of that section."""
    out = {}
    for block in re.split(r"^(?=### )", doc, flags=re.M)[1:]:
        m = re.match(r"### `([^`]+)`", block)
        assert m, f"malformed heading: {block.splitlines()[0]!r}"
        out[m.group(1)] = block
    return out


# ---------------------------------------------------------------------------
# (a) the committed file is the generated one
# ---------------------------------------------------------------------------


def test_committed_doc_is_up_to_date(rendered):
    assert DOC.is_file(), f"{DOC} is missing: run `{REGENERATE}`"
    committed = DOC.read_text(encoding="utf-8")
    if committed != rendered:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(True), rendered.splitlines(True), "docs/dialect.md", "render_dialect_doc()"
                )
            )[:40]
        )
        pytest.fail(f"docs/dialect.md is out of date with dialects/imc.py: run `{REGENERATE}`\n{diff}")


def test_render_is_deterministic(rendered):
    assert docgen.render_dialect_doc() == rendered


# ---------------------------------------------------------------------------
# (b) everything is documented
# ---------------------------------------------------------------------------


def test_every_op_and_type_is_documented(rendered):
    sections = _sections(rendered)
    assert dialect.OPS and dialect.TYPES
    for cls in dialect.TYPES:
        assert f"!{cls.type_name}" in sections, f"type !{cls.type_name} ({cls.__name__}) is not in docs/dialect.md"
    for cls in dialect.OPS:
        assert cls.OPERATION_NAME in sections, f"op {cls.OPERATION_NAME} ({cls.__name__}) is not in docs/dialect.md"
    documented = set(sections)
    defined = {f"!{c.type_name}" for c in dialect.TYPES} | {c.OPERATION_NAME for c in dialect.OPS}
    assert documented == defined, f"documented but not defined: {sorted(documented - defined)}"


def test_every_field_and_trait_is_documented(rendered):
    sections = _sections(rendered)
    for cls in dialect.OPS:
        section = sections[cls.OPERATION_NAME]
        for field in cls._fields:
            assert re.search(rf"^\| `{field.name}` \|", section, re.M), (
                f"field '{field.name}' of {cls.OPERATION_NAME} is missing from its tables in docs/dialect.md"
            )
        pure = any(t.__name__ == "Pure" for t in cls._traits)
        assert ("Traits: Pure" in section) == pure, f"{cls.OPERATION_NAME}: trait line does not match Pure={pure}"
        for rule in docgen.verifier_rules(cls):
            assert rule.template in section, f"{cls.OPERATION_NAME}: rule {rule.template!r} not in its section"
    for cls in dialect.TYPES:
        section = sections[f"!{cls.type_name}"]
        for field in cls._fields:
            assert f"| `{field.name}` |" in section, f"parameter '{field.name}' of !{cls.type_name} not documented"


# ---------------------------------------------------------------------------
# (c) docstring examples parse and verify
# ---------------------------------------------------------------------------


def _split_top_level(text: str) -> list[str]:
    """Splits a type list at commas outside <>, (), [] and {}."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    return parts + [tail] if tail else parts


def _operand_types(statement: str) -> list[str]:
    """The operand types of a generic-form op: the `(...)` after the last ` : (`."""
    at = statement.rfind(" : (")
    assert at >= 0, f"no functional type in {statement!r}"
    depth, start = 0, at + len(" : (")
    for i in range(start - 1, len(statement)):
        depth += {"(": 1, ")": -1}.get(statement[i], 0)
        if depth == 0:
            return _split_top_level(statement[start:i])
    raise AssertionError(f"unbalanced functional type in {statement!r}")


def wrap_example(example: str) -> str:
    """A module with `example` (generic-form ops) in a function whose arguments
    are the example's free SSA values, typed from the ops' functional types.
    A line indented under an op continues it, unless that op opens a region
    (`({`): the region's ops are statements of their own, up to its `})`."""
    statements, defined, args = [], set(), {}
    for line in example.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if statements and indent > statements[-1][0] and not statements[-1][1].endswith("({"):
            statements[-1] = (statements[-1][0], statements[-1][1] + " " + line.strip())
        else:
            statements.append((indent, line.strip()))
    for _, st in statements:
        if st.startswith("}"):
            continue  # the end of a region
        m = re.match(r'(?:(?P<results>%[\w.]+(?:\s*,\s*%[\w.]+)*)\s*=\s*)?"[\w.]+"\((?P<operands>[^)]*)\)', st)
        assert m, f"not a generic-form op: {st!r}"
        names = [n.strip() for n in m.group("operands").split(",") if n.strip()]
        if names:
            types = _operand_types(st)
            assert len(types) == len(names), f"{len(names)} operands but {len(types)} types in {st!r}"
            for n, t in zip(names, types):
                if n not in defined:
                    args.setdefault(n, t)
        if m.group("results"):
            defined.update(r.strip() for r in m.group("results").split(","))
    signature = ", ".join(f"{n}: {t}" for n, t in args.items())
    body = "\n".join("  " + " " * indent + st for indent, st in statements)
    return f"func.func @example({signature}) {{\n{body}\n  return\n}}\n"


def _example(cls) -> str:
    doc = docgen.own_docstring(cls)
    assert doc, f"{cls.__name__} has no docstring of its own"
    example = docgen.split_docstring(doc).example
    assert example, f"the docstring of {cls.__name__} has no `Example:` section"
    return example


@pytest.mark.parametrize("cls", dialect.OPS, ids=lambda c: c.OPERATION_NAME)
def test_op_example_parses_and_verifies(cls):
    example = _example(cls)
    assert f'"{cls.OPERATION_NAME}"' in example, f"the example of {cls.OPERATION_NAME} does not use it"
    source = wrap_example(example)
    with make_context(), ir.Location.unknown():
        try:
            module = ir.Module.parse(source)
        except ir.MLIRError as exc:
            pytest.fail(f"the docstring example of {cls.OPERATION_NAME} does not parse/verify:\n{source}\n{exc}")
        assert module.operation.verify()
        names = []
        module.operation.walk(lambda op: names.append(op.name) or ir.WalkResult.ADVANCE)
        assert cls.OPERATION_NAME in names


@pytest.mark.parametrize("cls", dialect.TYPES, ids=lambda c: c.type_name)
def test_type_example_parses(cls):
    example = _example(cls)
    with make_context():
        try:
            t = ir.Type.parse(example)
        except ir.MLIRError as exc:
            pytest.fail(f"the docstring example of !{cls.type_name} does not parse: {example!r}\n{exc}")
        assert cls(t) is not None


def test_wrapped_example_can_fail():
    """The example harness really verifies: a broken copy of an example is rejected."""
    example = _example(dialect.MvmOp).replace("adc_bits = 8", "adc_bits = 99")
    with make_context(), ir.Location.unknown():
        with pytest.raises(ir.MLIRError, match="adc_bits = 99 is out of range"):
            ir.Module.parse(wrap_example(example))


# ---------------------------------------------------------------------------
# (d) documented rules <-> negative tests
# ---------------------------------------------------------------------------


def _expected_errors() -> list[tuple[str, str, str]]:
    """(file:line, op name, message) of every expected-error in the negative tests."""
    assert NEGATIVE_TESTS, "no test/Dialect/imc/invalid*.mlir"
    out = []
    for path in NEGATIVE_TESTS:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in _EXPECTED_ERROR.finditer(line):
                om = _OP_MESSAGE.fullmatch(m.group(1))
                assert om, f"{path.name}:{lineno}: expected-error must start with `'<op>' op `"
                out.append((f"{path.name}:{lineno}", om.group("op"), om.group("message")))
    return out


def test_every_rule_has_a_negative_test():
    expected = _expected_errors()
    missing = []
    for rule in docgen.field_check_rules():
        if not any(rule.matches(msg) for _, _, msg in expected):
            missing.append(f"field check: {rule.template}")
    for cls in dialect.OPS:
        for rule in docgen.verifier_rules(cls):
            if not any(op == cls.OPERATION_NAME and rule.matches(msg) for _, op, msg in expected):
                missing.append(f"{cls.OPERATION_NAME}: {rule.template}")
    assert not missing, "verifier rules without a case in test/Dialect/imc/invalid*.mlir:\n" + "\n".join(missing)


def test_every_negative_test_is_a_documented_rule():
    field_rules = docgen.field_check_rules()
    rules = {cls.OPERATION_NAME: docgen.verifier_rules(cls) for cls in dialect.OPS}
    unknown = [
        f"{where}: '{op}' op {msg}"
        for where, op, msg in _expected_errors()
        if not any(r.matches(msg) for r in field_rules + rules.get(op, []))
    ]
    assert not unknown, "expected errors that match no documented rule:\n" + "\n".join(unknown)


# ---------------------------------------------------------------------------
# The rule extraction itself
# ---------------------------------------------------------------------------


class _FakeOp:
    """Rules are read from any class whose `verify_invariants` calls the dialect helpers."""

    def verify_invariants(self):
        from imc.dialects.imc import SPAD_SPACE, _check_range, _fail  # read by docgen, never run

        for name in ("a", "b"):
            if name:
                return _fail(self, f"{name} is broken by {self.value + 1}")
        if not _check_range(self, "width", self.width, (2, SPAD_SPACE + 3)):
            return False
        return _fail(self, "constant rule")


def test_rule_extraction_expands_loops_helpers_and_constants():
    rules = docgen.verifier_rules(_FakeOp)
    assert [r.template for r in rules] == [
        "a is broken by {value + 1}",
        "b is broken by {value + 1}",
        "width = {width} is out of range [2, 4]",
        "constant rule",
    ]
    assert rules[0].condition == "name"
    assert rules[2].matches("width = 7 is out of range [2, 4]")
    assert not rules[2].matches("width = 7 is out of range [2, 5]")
