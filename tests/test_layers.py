"""The layer order, checked on the source (issue #18; docs/architecture.md draws it).

A module may import its own layer and the layers below it, never one above. On top of the order:
no import cycle anywhere (module level, every package: pipelines, jobs, loopback, bench) and none
between packages, and no module over 300 lines. Imports under `TYPE_CHECKING` and lazy imports
inside functions count: they are dependencies too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "jobs", "loopback", "bench")
MAX_LINES = 300

# Lowest first. `venues` sits right above `core`: a config is validated against the venues it names
# (symbols, intervals, fees), and a venue needs nothing of config or store. `loopback` (the sample
# servers) is a consumer of the venues' sample feeds; `jobs` (the CLI) wires everything; `bench`
# measures everything.
LAYERS = (
    ("core", ("pipelines.core",)),
    ("venues", ("pipelines.venues",)),
    ("config", ("pipelines.config",)),
    ("store", ("pipelines.store",)),
    ("extract", ("pipelines.extract",)),
    ("load", ("pipelines.load",)),
    ("transform", ("pipelines.transform",)),
    ("analyze", ("pipelines.analyze",)),
    ("research", ("pipelines.backtest", "pipelines.research")),
    ("report", ("pipelines.report",)),
    ("flows", ("pipelines.flows",)),
    ("loopback", ("loopback",)),
    ("jobs", ("jobs",)),
    ("bench", ("bench",)),
)

# Known breaches still being moved away (issue #18). Each entry is removed by the change that fixes
# it; the test fails both on a new breach and on an entry that no longer breaches.
KNOWN_AGAINST_ORDER: set[tuple[str, str]] = set()
KNOWN_CYCLES: set[str] = set()
KNOWN_LONG: set[str] = set()


def module_names() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _absolute(name: str, node: ast.ImportFrom) -> str | None:
    if not node.level:
        return node.module
    base = name.split(".")[: -node.level] if name else []
    return ".".join([*base, node.module] if node.module else base)


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package import counts as its `__init__`)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = _absolute(package + ".x" if node.level else name, node)
                if not target or target.split(".")[0] not in PACKAGES:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"  # `from pipelines.report import outbox`
                    graph[name].add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
        graph[name].discard(name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt in graph and nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def layer_of(module: str) -> int:
    """Index of the layer a module belongs to (longest package prefix wins)."""
    best, length = None, -1
    for index, (_, packages) in enumerate(LAYERS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and len(package) > length:
                best, length = index, len(package)
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")
    return best


def package_of(module: str) -> str:
    """The package a module counts in for package-level cycles: its layer's package."""
    for _, packages in LAYERS:
        for package in sorted(packages, key=len, reverse=True):
            if module == package or module.startswith(package + "."):
                return package
    return module


def against_order(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a)}


def test_the_checker_sees_a_cycle_and_an_upward_import():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    assert against_order({"pipelines.core.units": {"jobs.cli"}}) == {("pipelines.core.units", "jobs.cli")}
    assert against_order({"jobs.cli": {"pipelines.core.units"}}) == set()


def test_every_module_has_a_layer():
    modules = module_names()
    assert "pipelines.flows.run" in modules and "loopback.tardis_server" in modules
    for name in modules:
        if name not in PACKAGES and name != "pipelines":
            layer_of(name)


def test_no_import_against_the_layer_order():
    found = against_order(import_graph(module_names()))
    assert found - KNOWN_AGAINST_ORDER == set(), "imports against the order:\n" + "\n".join(
        f"{a} -> {b}" for a, b in sorted(found - KNOWN_AGAINST_ORDER)
    )
    assert KNOWN_AGAINST_ORDER - found == set(), "fixed: remove from KNOWN_AGAINST_ORDER"


def test_no_import_cycle_between_modules():
    cycles = {" -> ".join(c) for c in find_cycles(import_graph(module_names()))}
    assert cycles - KNOWN_CYCLES == set(), "\n".join(sorted(cycles - KNOWN_CYCLES))
    assert KNOWN_CYCLES - cycles == set(), "fixed: remove from KNOWN_CYCLES"


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for a, targets in import_graph(module_names()).items():
        targets = {b for b in targets if (a, b) not in KNOWN_AGAINST_ORDER}
        graph.setdefault(package_of(a), set()).update(
            package_of(b) for b in targets if package_of(b) != package_of(a)
        )
    cycles = find_cycles(graph)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_over_300_lines():
    long = {
        str(path.relative_to(ROOT))
        for path in module_names().values()
        if len(path.read_text().splitlines()) > MAX_LINES
    }
    assert long - KNOWN_LONG == set(), f"over {MAX_LINES} lines: {sorted(long - KNOWN_LONG)}"
    assert KNOWN_LONG - long == set(), "fixed: remove from KNOWN_LONG"
