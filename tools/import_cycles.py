"""Import cycles between cnnopt's modules, counted from the source (nothing is imported).

Every `import cnnopt...` / `from cnnopt... import` is an edge, whether at module level or
deferred inside a function (a deferred import hides a cycle from Python, not from the design:
DESIGN.md wants each stage to import only the stages below it). Packages are collapsed to the
module that holds the code (`cnnopt.search` -> `cnnopt/search/__init__.py`). Prints the
strongly connected groups of modules (each group with more than one module is a knot of
cycles), the number of elementary cycles (capped), deferred imports, `except Exception`
clauses, functions over 60 lines, and library modules that import `cnnopt.commands`.

    python tools/import_cycles.py [--json]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
CYCLE_CAP = 10_000


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(name: str, modules: set[str]) -> str | None:
    """The longest known module that `name` (a module or a name inside one) lives in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def edges_of(path: Path, here: str, modules: set[str]) -> tuple[set[str], set[str], int]:
    """(modules imported at module level, imported inside functions, `except Exception`s)."""
    tree = ast.parse(path.read_text())
    top, deferred, broad = set(), set(), 0
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            return [f"{base}.{alias.name}" for alias in node.names] + [base]
        return []

    def visit(node: ast.AST, nested: bool) -> None:
        nonlocal broad
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ExceptHandler) and isinstance(child.type, ast.Name):
                broad += child.type.id in ("Exception", "BaseException")
            for target in targets(child):
                found = resolve(target, modules) if target.startswith("cnnopt") else None
                if found and found != here:
                    (deferred if inner else top).add(found)
            visit(child, inner)

    visit(tree, False)
    return top, deferred - top, broad


def long_functions(path: Path, limit: int = 60) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(SRC)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > limit
    ]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group))
    return groups


def count_cycles(graph: dict[str, set[str]], group: list[str]) -> int:
    """Elementary cycles inside one strongly connected group (Johnson-style DFS, capped)."""
    members = sorted(group)
    found = 0
    for i, start in enumerate(members):
        allowed = set(members[i:])
        path, blocked = [start], {start}
        stack = [iter(sorted(graph[start] & allowed))]
        while stack and found < CYCLE_CAP:
            for child in stack[-1]:
                if child == start:
                    found += 1
                elif child not in blocked:
                    path.append(child)
                    blocked.add(child)
                    stack.append(iter(sorted(graph[child] & allowed)))
                    break
            else:
                stack.pop()
                blocked.discard(path.pop())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = {module_name(p): p for p in sorted((SRC / "cnnopt").rglob("*.py"))}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    deferred_count = broad_count = 0
    commands_users = []
    long = []
    for name, path in files.items():
        top, deferred, broad = edges_of(path, name, modules)
        graph[name] = top | deferred
        deferred_count += len(deferred)
        broad_count += broad
        long += long_functions(path)
        if not name.startswith(("cnnopt.commands", "cnnopt.cli")) and any(
            m.startswith("cnnopt.commands") for m in graph[name]
        ):
            commands_users.append(name)
    knots = [g for g in strongly_connected(graph) if len(g) > 1]
    report = {
        "modules": len(modules),
        "knots": knots,
        "modules_in_cycles": sum(len(g) for g in knots),
        "cycles": sum(count_cycles(graph, g) for g in knots),
        "cycles_capped_at": CYCLE_CAP,
        "deferred_imports": deferred_count,
        "except_exception": broad_count,
        "functions_over_60_lines": long,
        "library_imports_commands": commands_users,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        return
    print(f"{report['modules']} modules; {len(knots)} knot(s) of cycles holding "
          f"{report['modules_in_cycles']} modules; {report['cycles']} elementary cycle(s)"
          f"{' (capped)' if report['cycles'] >= CYCLE_CAP else ''}")  # fmt: skip
    for group in knots:
        print("  knot: " + ", ".join(group))
    print(f"deferred (in-function) imports of cnnopt modules: {deferred_count}")
    print(f"`except Exception` clauses: {broad_count}")
    print(f"functions over 60 lines: {len(long)}")
    for item in long:
        print(f"  {item}")
    print(f"library modules importing cnnopt.commands: {commands_users or 'none'}")


if __name__ == "__main__":
    main()
