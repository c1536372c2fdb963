"""The code keeps the layer order of docs/architecture.md: no import points up, no files import in a circle.

The order is data: the fenced block under ``## Layers`` in docs/architecture.md, one
layer a line, the bottom one first. This test is the only reader of that block, so the
doc and the code cannot drift apart: an import that reaches up a layer, files that import
each other (directly or round a longer loop), a module that fits no layer, or a layer
entry that names no module fails here, naming the file, the line and the import.

What counts as an import: every ``import`` and ``from ... import`` statement of a file,
at the top or inside a function, absolute or relative, taken to the module file it
reads: ``from pocketgpt.train import checkpoint`` reads ``train/checkpoint.py``, while
``from pocketgpt.model import GPT`` reads ``model/__init__.py``. The ``__init__`` files
Python runs on the way to a submodule do not count: otherwise every submodule would
import its own package, which imports it back.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "pocketgpt"
DOC = ROOT / "docs" / "architecture.md"
HEADING = "## Layers"
ROOT_MODULE = "__init__"  # the package's own __init__.py, which has no dotted name inside the package


def read_layers(doc: Path) -> list[list[str]]:
    """The layers listed in the first fenced block under ``## Layers``, bottom first.

    A line is one layer: names separated by spaces, then an optional ``# comment``. For a
    block holding ``errors fsio  # base`` and ``model``, this gives
    ``[["errors", "fsio"], ["model"]]``.
    """
    lines = doc.read_text(encoding="utf-8").splitlines()
    if HEADING not in lines:
        raise AssertionError(f"{doc}: no {HEADING!r} heading; the layer test reads the layers from there")
    block, fenced = None, False
    for line in lines[lines.index(HEADING) + 1:]:
        if line.startswith("```"):
            if fenced:
                break
            fenced, block = True, []
        elif fenced:
            block.append(line)
        elif line.startswith("#"):  # the next heading: the section had no block
            break
    if not fenced:
        raise AssertionError(f"{doc}: the {HEADING!r} section has no fenced block of layers")
    layers = [line.split("#", 1)[0].split() for line in block]
    return [names for names in layers if names]


def module_names(pkg_dir: Path) -> dict[str, Path]:
    """Every ``.py`` file under ``pkg_dir`` by its dotted name inside the package.

    ``chat/data.py`` is ``chat.data``, ``chat/__init__.py`` is ``chat``, and the package's
    own ``__init__.py`` is ``__init__``.
    """
    out = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        parts = list(path.relative_to(pkg_dir).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        out[".".join(parts)] = path
    return out


def _inside(absolute: str, package: str) -> str | None:
    """``pocketgpt.chat.data`` -> ``chat.data``, ``pocketgpt`` -> ``__init__``; None outside the package."""
    if absolute == package:
        return ROOT_MODULE
    if absolute.startswith(package + "."):
        return absolute[len(package) + 1:]
    return None


def _read_by(name: str, modules: dict[str, Path]) -> str:
    """The module file that importing ``name`` reads: the longest prefix of it that is a module."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return ROOT_MODULE  # a name of the package itself (``from pocketgpt import load_checkpoint``)


def imports(module: str, modules: dict[str, Path], package: str) -> Iterator[tuple[int, str, str]]:
    """``(line, module imported, statement)`` for each import of one of ``modules`` in ``module``'s file."""
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    absolute = package if module == ROOT_MODULE else f"{package}.{module}"
    # What a relative import is relative to: a package's __init__ is inside the package.
    here = absolute.split(".") if path.name == "__init__.py" else absolute.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here[:len(here) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            # ``from a import b`` reads a/b.py when b is a module, else a itself.
            names = []
            for alias in node.names:
                sub = _inside(f"{base}.{alias.name}", package)
                names.append(f"{base}.{alias.name}" if sub in modules else base)
        else:
            continue
        seen = set()
        for name in names:
            inner = _inside(name, package)
            if inner is None:
                continue
            target = _read_by(inner, modules)
            if target != module and target not in seen:  # a module naming itself is no dependency
                seen.add(target)
                yield node.lineno, target, ast.unparse(node)


def _cycles(edges: dict[str, dict[str, tuple]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) in each group of modules that import each other round a loop."""
    # Tarjan's strongly connected components: a group of two or more holds a cycle.
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    out = []
    for group in groups:
        # The shortest way from the group's first module back to itself, inside the group.
        start = min(group)
        paths = {start: [start]}
        frontier = [start]
        cycle = None
        while frontier and cycle is None:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v]):
                    if w == start:
                        cycle = paths[v] + [start]
                        break
                    if w in group and w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
                if cycle:
                    break
            frontier = nxt
        out.append(cycle)
    return sorted(out)


def check(pkg_dir: Path, layers: list[list[str]]) -> list[str]:
    """Every way the package at ``pkg_dir`` breaks ``layers`` (bottom first), one line each.

    An entry of a layer names a module and everything below it (``chat`` is ``chat``,
    ``chat.data``, ...); where entries nest, the longer one decides.
    """
    package = pkg_dir.name
    modules = module_names(pkg_dir)

    def shown(module: str) -> str:
        path = modules[module]
        return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.relative_to(pkg_dir.parent))

    problems = []
    level: dict[str, int] = {}
    for i, names in enumerate(layers):
        for name in names:
            if name in level:
                problems.append(f"layers: {name!r} is listed twice (layers {level[name] + 1} and {i + 1})")
            level.setdefault(name, i)
    for name in level:
        if not any(m == name or m.startswith(name + ".") for m in modules):
            problems.append(f"layers: {name!r} names no module under {pkg_dir}")

    def layer_of(module: str) -> int | None:
        owners = [n for n in level if module == n or module.startswith(n + ".")]
        return level[max(owners, key=len)] if owners else None

    def describe(i: int) -> str:
        return f"layer {i + 1} ({' '.join(layers[i])})"

    found = {m: list(imports(m, modules, package)) for m in modules}
    for m in modules:
        if layer_of(m) is None:
            problems.append(f"{shown(m)}: {package}.{m} belongs to no layer; add it to one in {HEADING}")
    for m, found_here in found.items():
        for line, t, statement in sorted(found_here):
            here, there = layer_of(m), layer_of(t)
            if here is not None and there is not None and there > here:
                problems.append(f"{shown(m)}:{line}: `{statement}` points up: {m} is in {describe(here)}, "
                                f"{t} in {describe(there)}")
    # For cycles, one import per pair of files is enough to name the link.
    edges: dict[str, dict[str, tuple[int, str]]] = {m: {} for m in modules}
    for m, found_here in found.items():
        for line, t, statement in sorted(found_here):
            edges[m].setdefault(t, (line, statement))
    for cycle in _cycles(edges):
        steps = [f"{shown(a)}:{edges[a][b][0]} (`{edges[a][b][1]}`)" for a, b in zip(cycle, cycle[1:])]
        problems.append("import cycle: " + " -> ".join(steps) + f" -> back to {shown(cycle[0])}")
    return problems


def test_the_code_keeps_the_documented_layers():
    layers = read_layers(DOC)
    problems = check(SRC, layers)
    assert not problems, f"{len(problems)} break(s) of the layers in {DOC.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_the_model_imports_nothing_of_ours_but_errors_and_fsio():
    """Stricter than its layer: the model may not even use the tokenizer or data below it,
    so ``GPT`` stays usable on its own (and the HF weight maps stay in interop)."""
    modules = module_names(SRC)
    used = {t for m in modules if m == "model" or m.startswith("model.")
            for _, t, _ in imports(m, modules, "pocketgpt") if t != "model" and not t.startswith("model.")}
    assert used <= {"errors", "fsio"}, used


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "toy"


def test_the_checker_finds_an_upward_import_a_cycle_and_a_stray_module(tmp_path):
    # So the real test cannot pass for want of looking: each kind of break, in a toy package.
    pkg = _write(tmp_path, {
        "toy/__init__.py": "",
        "toy/base.py": "import json\n\n\ndef f():\n    from toy.top import g  # inside a function\n    return g\n",
        "toy/top/__init__.py": "from .a import A\n",
        "toy/top/a.py": "from . import b\nA = 1\n",
        "toy/top/b.py": "def g():\n    from .a import A\n    return A\n",
        "toy/stray.py": "",
    })
    problems = check(pkg, [["__init__", "base"], ["top"], ["gone"]])
    assert problems == [
        "layers: 'gone' names no module under " + str(pkg),
        "toy/stray.py: toy.stray belongs to no layer; add it to one in ## Layers",
        "toy/base.py:5: `from toy.top import g` points up: base is in layer 1 (__init__ base), top in layer 2 (top)",
        "import cycle: toy/top/a.py:1 (`from . import b`) -> toy/top/b.py:2 (`from .a import A`) -> back to toy/top/a.py",
    ]
    # The same package with the breaks mended passes, so the checker does not cry wolf.
    _write(tmp_path, {"toy/base.py": "import toy\n", "toy/top/b.py": "from toy.base import *\n"})
    assert check(pkg, [["__init__", "base", "stray"], ["top"]]) == []


def test_a_longer_entry_places_a_submodule_apart_from_its_package(tmp_path):
    pkg = _write(tmp_path, {"toy/__init__.py": "", "toy/low/__init__.py": "", "toy/low/hook.py": "import toy.high\n",
                            "toy/high.py": "import toy.low\n"})
    assert check(pkg, [["__init__", "low"], ["high"], ["low.hook"]]) == []
    assert check(pkg, [["__init__", "low"], ["high"]]) == [
        "toy/low/hook.py:1: `import toy.high` points up: low.hook is in layer 1 (__init__ low), high in layer 2 (high)"]


def test_read_layers_takes_the_block_under_the_heading(tmp_path):
    doc = tmp_path / "architecture.md"
    doc.write_text("# Title\n\n```\nnot this\n```\n\n## Layers\n\nBottom first.\n\n```\n"
                   "# the lowest first\nerrors fsio   # the base\n\nmodel\n```\n\n## Modules\n\n```\nnor this\n```\n")
    assert read_layers(doc) == [["errors", "fsio"], ["model"]]


def test_read_layers_wants_the_block_in_its_own_section(tmp_path):
    doc = tmp_path / "architecture.md"
    doc.write_text("## Layers\n\nnone here\n\n## Modules\n\n```\nmodel\n```\n")
    with pytest.raises(AssertionError, match="no fenced block"):
        read_layers(doc)
