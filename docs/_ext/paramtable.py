"""``param-table``: a table of a parameter dataclass, read from its source.

The parameter dataclasses of memcircuits document each field with a comment on the line that
defines it (paper symbol, unit, source), e.g.::

    rate: Quantity = _q(50 * Hz)  # f_MF: rate of an active rail (MF 10-200 Hz in vivo)

so the docs read those comments rather than copying them. The directive::

    .. param-table:: circuits.cerebellum.params.MossyFibreParams
       :prefix: circuit.mossy

gives one row per field: the ``--set`` key (``prefix.field``), the paper symbol (the comment's
leading ``symbol:``, else a field name that is itself a symbol such as ``tau_m`` or ``V_th``),
the default (the source text, units included) and the comment. A comment continued on the
following comment-only lines is joined. Fields holding a nested dataclass are listed with
their type.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "theta", "kappa", "lambda", "mu",
          "nu", "sigma", "tau", "phi", "rho", "omega"}
_SYMBOL = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?\*?)\s*:\s*(.*)$", re.S)
_NAME_IS_SYMBOL = re.compile(r"^(tau(_\w+)?|[A-Z](_\w+)?|C)$")


def _latex(symbol: str) -> str:
    """``tau_m`` -> ``\\tau_{m}``, ``f_MF`` -> ``f_{MF}``, ``w0`` -> ``w_0``."""
    base, _, sub = symbol.partition("_")
    if not sub:
        match = re.match(r"^([A-Za-z]+)(\d+)$", base)
        if match:
            base, sub = match.groups()
    base = "\\" + base if base in _GREEK else base
    if sub:
        sub = "\\" + sub if sub in _GREEK else (sub if len(sub) == 1 else
                                                  r"\mathrm{" + sub + "}")
        return f"{base}_{{{sub}}}"
    return base


def _default_text(source: str, node: ast.expr | None) -> str:
    if node is None:
        return ""
    text = ast.get_source_segment(source, node) or ""
    match = re.fullmatch(r"_(?:optional_)?q\((.*)\)", text, re.S)
    if match:
        text = match.group(1)
    match = re.fullmatch(r"field\(default_factory=(\w+)\)", text)
    if match:
        return f"{match.group(1)}()"
    return " ".join(text.split())


def parameter_rows(cls: type) -> list[tuple[str, str, str, str]]:
    """``(field, symbol, default, comment)`` for every annotated field of ``cls``."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    tree = ast.parse(source)
    body = tree.body[0].body
    rows = []
    for i, stmt in enumerate(body):
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        last = stmt.end_lineno
        comment_parts = []
        code_line = lines[last - 1]
        if "#" in code_line:
            comment_parts.append(code_line.split("#", 1)[1].strip())
        # continuation comments: comment-only lines up to the next statement
        stop = body[i + 1].lineno - 1 if i + 1 < len(body) else len(lines)
        for line in lines[last:stop]:
            stripped = line.strip()
            if not stripped.startswith("#"):
                break
            comment_parts.append(stripped[1:].strip())
        comment = ""
        for part in (p for p in comment_parts if p):
            comment += part if not comment or comment.endswith("-") else " " + part
        comment = re.sub(r"\s*\(noqa[^)]*\)", "", comment)
        name = stmt.target.id
        symbol = ""
        match = _SYMBOL.match(comment)
        if match and len(match.group(1)) <= 12:
            symbol, comment = match.group(1), match.group(2)
        elif _NAME_IS_SYMBOL.match(name):
            symbol = name
        default = _default_text(source, stmt.value)
        if not comment and default.endswith("()"):
            comment = (f"the parameters of :class:`~{cls.__module__}.{default[:-2]}` "
                       "(table below)")
        rows.append((name, symbol, default, comment))
    return rows


def _escape(text: str) -> str:
    """Make free text safe inside reST: literal ``*``, ``|`` and backquotes kept readable."""
    out = text.replace("\\", "\\\\").replace("*", r"\*").replace("|", r"\|")
    return out.replace("`", "``") if out.count("`") % 2 else out


class ParamTable(SphinxDirective):
    required_arguments = 1
    option_spec: ClassVar[dict] = {"prefix": directives.unchanged}
    has_content = False

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        module_name, _, class_name = path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        self.env.note_dependency(inspect.getsourcefile(cls))
        prefix = self.options.get("prefix", "")
        text = [".. list-table::", "   :header-rows: 1", "   :widths: 22 10 18 50", "",
                "   * - parameter", "     - symbol", "     - default", "     - meaning"]
        for name, symbol, default, comment in parameter_rows(cls):
            key = f"{prefix}.{name}" if prefix else name
            text += [f"   * - ``{key}``",
                     f"     - :math:`{_latex(symbol)}`" if symbol else "     -",
                     f"     - ``{default}``" if default else "     -",
                     f"     - {_escape(comment)}" if comment else "     -"]
        container = nodes.container(classes=["param-table"])
        self.state.nested_parse(StringList(text, source=path), self.content_offset, container)
        return [container]


def setup(app):
    app.add_directive("param-table", ParamTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
