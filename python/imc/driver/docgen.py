"""Generates the reference documentation of the `imc` dialect (docs/dialect.md).

Everything comes from the definitions in `imc.dialects.imc`: the op and type
classes (`OPS`, `TYPES`), their docstrings, their declared fields
(`torch_mlir.dialects.ext.partition_fields`), their traits, and their verifier
rules. The rules are read from the verifier source with `ast`: every
`_fail(op, message)` call reachable from an op's `verify_invariants` (directly
or through a module-level helper such as `_check_range`) is one rule, and its
message template is the rule's documentation. A rule added to a verifier thus
shows up in the docs without touching this file.

Regenerate the committed file with:

    python -m imc.driver.docgen > docs/dialect.md
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from types import UnionType
from typing import Any, Union, get_args, get_origin

from torch_mlir.dialects import ext

from imc.dialects import imc as dialect

__all__ = [
    "VerifierRule",
    "DocstringParts",
    "split_docstring",
    "own_docstring",
    "field_check_rules",
    "verifier_rules",
    "render_dialect_doc",
    "main",
]

_FAIL = "_fail"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class VerifierRule:
    """One diagnostic a verifier can emit.

    `template` is the message after `'<op name>' op `, with every part computed
    from the IR written as `{expression}` (e.g. `weight must have rank 2, got
    rank {w.rank}`); parts that are constant for the dialect (a string
    argument, a module-level constant such as `CONTRACT_KINDS`) are filled in.
    `condition` is the source of the `if` test guarding the failure, or None.
    """

    template: str
    condition: str | None = None

    def pattern(self) -> re.Pattern:
        """A regex that matches exactly the messages this rule can produce."""
        parts = _PLACEHOLDER.split(self.template)
        return re.compile(".+?".join(re.escape(p) for p in parts), re.S)

    def matches(self, message: str) -> bool:
        """True if `message` (without the `'<op>' op ` prefix) comes from this rule."""
        return self.pattern().fullmatch(message) is not None


@dataclass(frozen=True)
class DocstringParts:
    """A docstring split into its first line, the prose and the MLIR example."""

    summary: str
    body: str
    example: str | None


def own_docstring(cls) -> str | None:
    """The docstring written on `cls` itself (not inherited), cleaned, or None."""
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc and doc.strip() else None


def split_docstring(doc: str) -> DocstringParts:
    """Splits a cleaned docstring at its `Example:` section.

    The example is either inline (``Example: `!imc.xbar<...>` ``, the text
    between the backquotes) or the indented block following an `Example:` line
    (dedented). Everything before `Example:` except the first line is the body.
    """
    lines = doc.splitlines()
    summary = lines[0].strip() if lines else ""
    rest = lines[1:]
    example = None
    for i, line in enumerate(rest):
        m = re.match(r"\s*Example:\s*(.*)$", line)
        if not m:
            continue
        inline = m.group(1).strip()
        if inline:
            example = inline[1:-1] if inline.startswith("`") and inline.endswith("`") else inline
        else:
            block = []
            for follow in rest[i + 1 :]:
                if follow.strip() and not follow[:1].isspace():
                    break
                block.append(follow)
            example = textwrap.dedent("\n".join(block)).strip() or None
        rest = rest[:i]
        break
    return DocstringParts(summary, "\n".join(rest).strip(), example)


# ---------------------------------------------------------------------------
# Verifier rules, from the verifier source
# ---------------------------------------------------------------------------


def _module_function(name: str):
    """The module-level function `name` of the dialect module, or None."""
    fn = getattr(dialect, name, None)
    if inspect.isfunction(fn) and fn.__module__ == dialect.__name__:
        return fn
    return None


def _message_helper(node: ast.expr, renderer) -> str | None:
    """The message of `node` when it calls a dialect function whose body is
    one `return` of a string (the scratchpad rules' messages,
    `spad_capacity_error(...)`), rendered with the call's arguments; else None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    fn = _module_function(node.func.id)
    if fn is None:
        return None
    fn_def = _function_ast(fn)
    body = [s for s in fn_def.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return None
    inner = _Renderer(_bind(fn_def, node, renderer), renderer.local_names - {a.arg for a in fn_def.args.args})
    return inner.message(body[0].value)


def _function_ast(fn) -> ast.FunctionDef:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise RuntimeError(f"cannot read the source of {fn.__qualname__} to document its rules: {exc}") from exc
    node = ast.parse(source).body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)), fn.__qualname__
    return node


def _class_verifier_asts(cls) -> list[ast.FunctionDef]:
    """The `verify_invariants` definition written in the body of `cls`, and
    its `verify_region_invariants` (run after the ops in its regions
    verified) if it has one.

    The class source is parsed (rather than the method) because `@_verifier`
    replaces the method with a wrapper whose own source is the wrapper's.
    """
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError) as exc:
        raise RuntimeError(f"cannot read the source of {cls.__qualname__} to document its rules: {exc}") from exc
    class_def = ast.parse(source).body[0]
    found = {}
    for node in class_def.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("verify_invariants", "verify_region_invariants"):
            node.decorator_list = []  # `@_verifier(...)` is the wrapper, not the op's rules
            found[node.name] = node
    if "verify_invariants" not in found:
        raise RuntimeError(f"{cls.__qualname__} defines no verify_invariants")
    return [found[name] for name in ("verify_invariants", "verify_region_invariants") if name in found]


class _Renderer:
    """Renders expressions of a verifier as template text.

    `env` maps helper parameter names to the argument expressions of the call
    being inlined (and unpacked tuple names to their elements). `local_names`
    are the names bound in the functions being read: they are never taken for
    module constants, even when a global of that name exists.
    """

    def __init__(self, env: dict[str, ast.expr] | None = None, local_names: frozenset[str] = frozenset()):
        self.env = env or {}
        self.local_names = local_names

    def substitute(self, node: ast.expr) -> ast.expr:
        env = self.env

        class Sub(ast.NodeTransformer):
            def visit_Name(self, n):
                return env.get(n.id, n)

        return Sub().visit(ast.parse(ast.unparse(node), mode="eval").body)

    def constant(self, node: ast.expr) -> tuple[bool, Any]:
        """(True, value) if `node` only involves literals and dialect-module globals."""
        node = self.substitute(node)
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if names & self.local_names:
            return False, None
        if any(not hasattr(dialect, n) and not hasattr(builtins, n) for n in names):
            return False, None
        if any(isinstance(n, ast.Call) for n in ast.walk(node)) and not _is_pure_call_tree(node):
            return False, None
        try:
            expr = ast.fix_missing_locations(ast.Expression(node))
            return True, eval(compile(expr, "<rule>", "eval"), vars(dialect))  # noqa: S307
        except Exception:  # not a constant after all
            return False, None

    def text(self, node: ast.expr) -> str:
        """`node` as message text: a constant, a message helper's text, or `{expression}`."""
        helper = _message_helper(self.substitute(node), self)
        if helper is not None:
            return helper
        ok, value = self.constant(node)
        if ok:
            return str(value)
        return "{" + _pretty(self.substitute(node)) + "}"

    def message(self, node: ast.expr) -> str:
        """The message template of a `_fail` argument (str literal, f-string,
        or a call of a message helper: `_message_helper`)."""
        helper = _message_helper(self.substitute(node), self)
        if helper is not None:
            return helper
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            out = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out.append(str(part.value))
                    continue
                inner = self.substitute(part.value)
                if isinstance(inner, ast.JoinedStr) and part.format_spec is None:  # a message part built by the caller
                    out.append(_Renderer({}, self.local_names).message(inner))
                    continue
                ok, value = self.constant(part.value) if part.format_spec is None else (False, None)
                if ok:
                    out.append(repr(value) if part.conversion == ord("r") else str(value))
                else:
                    out.append("{" + _pretty(self.substitute(part.value)) + "}")
            return "".join(out)
        return self.text(node)


_PURE_CALLS = {"str", "len", "list", "tuple", "join", "repr", "int"}


def _is_pure_call_tree(node: ast.expr) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name not in _PURE_CALLS:
                return False
    return True


def _pretty(node: ast.expr) -> str:
    """Source of an expression with verifier plumbing removed (`_int(self.x)` -> `x`)."""

    class Simplify(ast.NodeTransformer):
        def visit_Call(self, n):
            self.generic_visit(n)
            if isinstance(n.func, ast.Name) and n.func.id == "_int" and len(n.args) == 1:
                return n.args[0]
            return n

        def visit_Attribute(self, n):
            self.generic_visit(n)
            if isinstance(n.value, ast.Name) and n.value.id in ("self", "op"):
                return ast.Name(n.attr, ast.Load())
            return n

    return ast.unparse(Simplify().visit(node))


def _bind(fn_def: ast.FunctionDef, call: ast.Call, renderer: _Renderer) -> dict[str, ast.expr]:
    """Parameter name -> argument expression (in the caller's terms) for `call`."""
    params = [a.arg for a in fn_def.args.args]
    env = {p: renderer.substitute(a) for p, a in zip(params, call.args)}
    for kw in call.keywords:
        if kw.arg:
            env[kw.arg] = renderer.substitute(kw.value)
    return env


def _unpack_assignments(body: list[ast.stmt], env: dict[str, ast.expr], renderer: _Renderer) -> None:
    """Adds `a, b = param` unpackings of a parameter bound to a tuple to `env`."""
    for stmt in body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Tuple)):
            continue
        if not (isinstance(stmt.value, ast.Name) and stmt.value.id in env):
            continue
        names = [t.id for t in stmt.targets[0].elts if isinstance(t, ast.Name)]
        value = renderer.substitute(stmt.value)
        if isinstance(value, ast.Tuple) and len(value.elts) == len(names):
            env.update(zip(names, value.elts))
            continue
        ok, const = renderer.constant(value)
        if ok and isinstance(const, tuple) and len(const) == len(names):
            env.update({n: ast.Constant(v) for n, v in zip(names, const)})


def _bound_names(fn_def: ast.FunctionDef) -> frozenset[str]:
    """Parameters and every name assigned (or used as a loop target) in `fn_def`."""
    names = {a.arg for a in fn_def.args.args + fn_def.args.kwonlyargs}
    for node in ast.walk(fn_def):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return frozenset(names)


def _collect(fn_def: ast.FunctionDef, renderer: _Renderer, stack: tuple[str, ...]) -> list[VerifierRule]:
    """Rules of one function body, in source order, inlining dialect helpers."""
    renderer = _Renderer(renderer.env, renderer.local_names | _bound_names(fn_def))
    rules: list[VerifierRule] = []
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(fn_def):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def condition(node: ast.AST) -> str | None:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.If):
                test = node.test
                if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Call):
                    return None  # `if not helper(...)`: the helper's own rule
                return _pretty(renderer.substitute(test))
        return None

    calls = sorted(
        (n for n in ast.walk(fn_def) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    def literal_loops(node: ast.AST) -> list[dict[str, ast.expr]]:
        """One env per iteration of the enclosing `for name in ("a", "b")` loops."""
        envs = [{}]
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                ok, values = renderer.constant(node.iter)
                if ok and isinstance(values, (tuple, list)):
                    envs = [{**e, node.target.id: ast.Constant(v)} for v in values for e in envs]
        return envs

    for call in calls:
        name = call.func.id
        if name == _FAIL:
            if len(call.args) < 2:
                raise RuntimeError(f"{_FAIL}() call without a message at line {call.lineno}")
            for loop_env in literal_loops(call):
                r = _Renderer({**renderer.env, **loop_env}, renderer.local_names - set(loop_env))
                rules.append(VerifierRule(r.message(call.args[1]), condition(call)))
        elif name not in stack and (helper := _module_function(name)) is not None:
            helper_def = _function_ast(helper)
            env = _bind(helper_def, call, renderer)
            inner = _Renderer(env, renderer.local_names)
            _unpack_assignments(helper_def.body, env, inner)
            rules.extend(_collect(helper_def, inner, stack + (name,)))
    return rules


def field_check_rules() -> list[VerifierRule]:
    """The generic rules every op checks first on its declared fields."""
    return _collect(_function_ast(dialect._check_fields), _Renderer(), ("_check_fields", _FAIL))


def verifier_rules(op_cls) -> list[VerifierRule]:
    """The op-specific rules of `op_cls.verify_invariants` (then of its
    `verify_region_invariants`), in source order.

    Does not include `field_check_rules()`, which `@_verifier` runs before them.
    Duplicates (the same template reached twice) are listed once.
    """
    rules = [r for fn in _class_verifier_asts(op_cls) for r in _collect(fn, _Renderer(), (_FAIL,))]
    seen, unique = set(), []
    for r in rules:
        if r.template not in seen:
            seen.add(r.template)
            unique.append(r)
    return unique


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def _constraint_name(constraint) -> str:
    if constraint is Any:
        return "any attribute"
    args = get_args(constraint)
    if args and get_origin(constraint) in (Union, UnionType):
        return " or ".join(_constraint_name(a) for a in args)
    if isinstance(constraint, type) and issubclass(constraint, ext.Type):
        return f"`!{constraint.type_name}` ({constraint.__name__})"
    return f"`{getattr(constraint, '__name__', str(constraint))}`"


def _variadicity(field) -> str:
    v = getattr(field, "variadicity", None)
    return {"variadic": "variadic", "optional": "optional"}.get(getattr(v, "name", ""), "single")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return ["None."]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _rule_lines(rules: list[VerifierRule]) -> list[str]:
    return [f"- {_code(r.template)}" for r in rules] or ["None beyond the field checks."]


def _traits(cls) -> str:
    traits = getattr(cls, "_traits", [])
    if not traits:
        return "none (unknown memory effects: it is never folded, hoisted or erased as dead)"
    described = {"Pure": "Pure (no memory effects, always speculatable)"}
    return ", ".join(
        f"MemoryEffects ({t.__doc__})" if t.__name__ == "MemoryEffects" else described.get(t.__name__, t.__name__)
        for t in traits
    )


def _section_for_type(cls) -> list[str]:
    doc = own_docstring(cls)
    parts = split_docstring(doc) if doc else DocstringParts("(undocumented)", "", None)
    out = [f"### `!{cls.type_name}` ({cls.__name__})", "", parts.summary, ""]
    if parts.body:
        out += [parts.body, ""]
    out += ["Parameters:", ""]
    out += _table(("Name", "Constraint"), [(f"`{f.name}`", _constraint_name(f.constraint)) for f in cls._fields])
    out.append("")
    if parts.example:
        out += ["Example:", "", "```mlir", parts.example, "```", ""]
    return out


def _section_for_op(cls) -> list[str]:
    doc = own_docstring(cls)
    parts = split_docstring(doc) if doc else DocstringParts("(undocumented)", "", None)
    operands, attrs, results, regions = ext.partition_fields(cls._fields)
    out = [f"### `{cls.OPERATION_NAME}` ({cls.__name__})", "", parts.summary, ""]
    if parts.body:
        out += [parts.body, ""]
    if parts.example:
        out += ["```mlir", parts.example, "```", ""]
    out += [f"Traits: {_traits(cls)}.", ""]
    out += ["Operands:", ""]
    out += _table(
        ("Name", "Constraint", "Count"),
        [(f"`{f.name}`", _constraint_name(f.constraint), _variadicity(f)) for f in operands],
    )
    out += ["", "Attributes:", ""]
    out += _table(("Name", "Constraint"), [(f"`{f.name}`", _constraint_name(f.constraint)) for f in attrs])
    out += ["", "Results:", ""]
    out += _table(
        ("Name", "Constraint", "Count"),
        [(f"`{f.name}`", _constraint_name(f.constraint), _variadicity(f)) for f in results],
    )
    if regions:
        out += ["", "Regions:", ""]
        out += _table(("Name", "Count"), [(f"`{r.name}`", _variadicity(r)) for r in regions])
    out += ["", "Verifier rules (after the field checks):", ""]
    out += _rule_lines(verifier_rules(cls))
    out.append("")
    return out


def render_dialect_doc() -> str:
    """The Markdown reference of the `imc` dialect, generated from its definitions.

    Deterministic (depends only on the source of `imc.dialects.imc`); ends with
    a newline. Raises RuntimeError if a verifier's source cannot be read.
    """
    spad = dialect.SPAD_SPACE
    out = [
        f"# The `{dialect.Imc.DIALECT_NAMESPACE}` dialect",
        "",
        "<!-- Generated by `python -m imc.driver.docgen > docs/dialect.md` from dialects/imc.py; do not edit. -->",
        "",
        own_docstring(dialect.Imc) or "",
        "",
        "The dialect is defined in Python with `torch_mlir.dialects.ext` (IRDL underneath); its ops",
        "print in MLIR's generic form (`\"imc.mvm\"(%xb, %x) {...} : (...) -> ...`). Load it into a",
        "context with `imc.dialects.imc.load(context)` or create one with `imc.ir.context.make_context()`.",
        "",
        "## Memory spaces",
        "",
        "A `memref` without a memory space (or with memory space `0`) lives in DRAM. A `memref` in",
        f"memory space `{spad}` (`SPAD_SPACE`) lives in the on-chip scratchpad, e.g.",
        f"`memref<32x32xf32, {spad}>`. Scratchpad buffers are created by `imc.spad_alloc` at a byte",
        "offset, released by `imc.spad_free`, and filled from / written back to DRAM by `imc.dma`.",
        "When the module carries a hardware description (the `imc.hardware` module attribute, e.g.",
        "attached by `imc-opt --hardware default`), allocations must fit its scratchpad capacity and",
        "respect its alignment. Tensors have no memory space; crossbars are `!imc.xbar` values.",
        "",
        "## Verification",
        "",
        "Every op reports a broken rule at its location as `'<op name>' op <message>`. In the rules",
        "below, `{...}` stands for a value taken from the IR. Each op first checks its declared",
        "fields (the Operands/Attributes/Results tables):",
        "",
        *_rule_lines(field_check_rules()),
        "",
        "and then its own rules, listed with the op.",
        "",
        "## Types",
        "",
    ]
    for cls in dialect.TYPES:
        out += _section_for_type(cls)
    out += ["## Operations", ""]
    for cls in dialect.OPS:
        out += _section_for_op(cls)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m imc.driver.docgen [-o FILE]`: writes the dialect reference (stdout by default)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m imc.driver.docgen", description=__doc__.splitlines()[0])
    parser.add_argument("-o", dest="output", default="-", help="output file ('-' for stdout)")
    args = parser.parse_args(argv)
    text = render_dialect_doc()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
