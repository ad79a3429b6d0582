"""The package's import graph: modules per folder, the longest import chain, import circles and
the layering rule (README, "Developing"). `python3 -m scripts.import_graph` prints them."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "spark" / "dataproc_faces"
# sub-package -> the sub-packages of the job it may import (besides itself)
MAY_IMPORT = {
    "detectors": set(),
    "imaging": {"detectors"},
    "storage": set(),
    "results": {"storage"},
    "video": {"detectors", "imaging"},
}
# what the core may not import: it is tested without Spark, storage or a Google client
FOREIGN = ("pyspark", "google", "flask")


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    """Every absolute module name imported anywhere in the file (function bodies too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def graph(found: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        for target in imports(path):
            while target not in found and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in found and target != name and not name.startswith(target + "."):
                edges[name].add(target)
    return edges


def circles(edges: dict[str, set[str]], names: list[str]) -> list[list[str]]:
    found, state = [], {}

    def visit(v: str, stack: list[str]) -> None:
        state[v] = 1
        stack.append(v)
        for w in sorted(edges[v]):
            if state.get(w) == 1:
                found.append([*stack[stack.index(w) :], w])
            elif not state.get(w):
                visit(w, stack)
        stack.pop()
        state[v] = 2

    for v in sorted(names):
        if not state.get(v):
            visit(v, [])
    return found


def longest_chain(edges: dict[str, set[str]], names: list[str]) -> list[str]:
    """The longest path of imports; the graph must have no circle."""

    @cache
    def chain(v: str) -> tuple[str, ...]:
        return max(((v, *chain(w)) for w in edges[v]), key=len, default=(v,))

    return list(max((chain(v) for v in names), key=len))


def _folder(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) else ""


def broken_rules(found: dict[str, Path], edges: dict[str, set[str]]) -> list[str]:
    """Imports the layering rule forbids, one line each."""
    bad = []
    for name, targets in edges.items():
        folder = _folder(name)
        if folder not in MAY_IMPORT:
            continue
        for target in sorted(targets):
            other = _folder(target)
            if other != folder and other not in MAY_IMPORT[folder]:
                bad.append(f"{name} imports {target}")
        if folder != "storage" or name.endswith(".gcs"):
            foreign = FOREIGN if folder != "storage" else ("pyspark", "flask")
            for target in sorted(imports(found[name])):
                if target.split(".")[0] in foreign:
                    bad.append(f"{name} imports {target}")
    return bad


def main() -> int:
    found = modules()
    edges = graph(found)
    per_folder: dict[str, int] = defaultdict(int)
    for name in found:
        per_folder[_folder(name) or "(top)"] += 1
    for folder, count in sorted(per_folder.items()):
        print(f"{folder}: {count} modules")
    loops, bad = circles(edges, list(found)), broken_rules(found, edges)
    if not loops:
        chain = longest_chain(edges, list(found))
        print(f"longest import chain: {len(chain) - 1} imports: {' -> '.join(chain)}")
    print(f"import circles: {len(loops)}", *(" -> ".join(c) for c in loops), sep="\n  ")
    print(f"imports the layering rule forbids: {len(bad)}", *bad, sep="\n  ")
    return 1 if loops or bad else 0


if __name__ == "__main__":
    sys.exit(main())
