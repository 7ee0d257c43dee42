"""The house's layer rule: every engine module lives in a package of one concern, packages
import only downwards, nothing imports in a circle, and no package reaches into another's
private names.

Packages of ``tuning_core``, highest first (a module may import from its own package and any
package below it):

* cli: the command line and the launcher.
* live: what a watching page gets: the content, its HTML and the feed's answers.
* jobs: who trains what and when: the registry, the queue and its dispatcher.
* distributed: the chief and its workers.
* model: the best model and what is done with it: the retrain, predictions, exports,
  explanations, data health, the standalone script and the report.
* search: one search and its trials: the lifecycle, tuners, the hypermodel, callbacks, costs.
* analysis: reading finished trials: importance, diagnosis, charts, comparison, planning,
  cost fronts, margins.
* runs: a run folder and what it holds: settings, the trial log, ranking, notes, locks.
* space: the search space: its schema, presets, size and backbones.
* data: images: scan, split, pipeline, uploads, the sample set.
* lab: accounts, sessions, permissions, the actor, audit, data roots, lab files.
* core: errors, states, atomic writes, the workspace's paths, record helpers, stop control.

The engine never imports Streamlit or the pages; ``labweb`` never imports the pages. Lazy
imports inside functions count too: they are dependencies all the same.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tuning_core", "labweb", "pages", "bench")
ORDER = ("cli", "live", "jobs", "distributed", "model", "search", "analysis", "runs", "space",
         "data", "lab", "core")  # highest first
TOP = {"__main__": "cli"}  # the only modules beside the packages (and the package's __init__)


GENERATED = ("out",)  # what the benchmarks write (bench/out: results, peers' own venvs)


def sources(folder: Path) -> list[Path]:
    """The project's Python files under ``folder``, not what its runs generated there."""
    return [path for path in folder.rglob("*.py")
            if not set(path.relative_to(folder).parts[:-1]) & set(GENERATED)]


def modules(package: str) -> dict[str, Path]:
    """Every module of a package by its dotted name inside it ("exports.formats")."""
    found = {}
    for path in sources(ROOT / package):
        parts = path.relative_to(ROOT / package).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name:
            found[name] = path
    return found


def imports(package: str, name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (as "package.module"), at any depth of the file."""
    here = [package, *name.split(".")]
    if path.name != "__init__.py":
        here = here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                found.add(full if full in known else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known or m.split(".")[0] in ("streamlit",)}


def graph() -> dict[str, set[str]]:
    """Project module -> the project modules (and streamlit) it imports."""
    every = {f"{p}.{m}": path for p in PACKAGES for m, path in modules(p).items()}
    known = set(every) | set(PACKAGES)
    return {name: imports(name.split(".")[0], name.split(".", 1)[1], path, known) - {name}
            for name, path in every.items()}


def room_of(module: str) -> str | None:
    """The package of an engine module: "tuning_core.runs.rundir" -> "runs"."""
    parts = module.split(".")
    if parts[0] != "tuning_core" or len(parts) == 1:
        return None
    return TOP.get(parts[1]) if len(parts) == 2 and parts[1] in TOP else \
        parts[1] if len(parts) > 2 or parts[1] in ORDER else None


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Engine imports that point up the order of packages."""
    found = []
    for module, targets in edges.items():
        if not module.startswith("tuning_core."):
            continue
        for target in targets:
            if target.startswith("tuning_core.") and room_of(module) and room_of(target) and \
                    ORDER.index(room_of(target)) < ORDER.index(room_of(module)):
                found.append(f"{module} ({room_of(module)}) imports {target} "
                             f"({room_of(target)})")
    return sorted(found)


def private_reaches(package: str = "tuning_core") -> list[str]:
    """Imports of a ``_private`` name or module of a package from outside that package."""
    found = []
    for top in (*PACKAGES, "tests"):
        for path in sources(ROOT / top):
            rel = path.relative_to(ROOT).with_suffix("").parts
            own = rel[1] if rel[0] == package and len(rel) > 2 else None
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        and node.module.startswith(package + ".")):
                    continue
                parts = node.module.split(".")
                if parts[1] == own:
                    continue
                names = parts[2:] + [alias.name for alias in node.names]
                if any(name.startswith("_") for name in names):
                    found.append(f"{'/'.join(rel)} imports {node.module}: "
                                 f"{', '.join(a.name for a in node.names)}")
    return sorted(found)


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between the engine's packages."""
    found: dict[str, set[str]] = {room: set() for room in ORDER}
    for module, targets in edges.items():
        if room_of(module):
            found[room_of(module)] |= {room_of(t) for t in targets if room_of(t)} - \
                {room_of(module)}
    return found


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return graph()


def test_every_engine_module_lives_in_a_package() -> None:
    loose = [name for name in modules("tuning_core") if room_of(f"tuning_core.{name}") is None]
    assert loose == []
    folders = {path.name for path in (ROOT / "tuning_core").iterdir()
               if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == set(ORDER)


def test_every_package_states_its_public_names() -> None:
    """Each ``__init__`` says what the package offers; every name it lists is there."""
    for room in ORDER:
        package = importlib.import_module(f"tuning_core.{room}")
        assert package.__doc__ and package.__all__, room
        for name in package.__all__:
            assert not name.startswith("_"), (room, name)
            assert getattr(package, name) is not None, (room, name)


def test_no_package_reaches_into_anothers_private_names() -> None:
    assert private_reaches() == []


def test_packages_import_in_one_direction(edges) -> None:
    assert circles(package_edges(edges)) == []


def test_no_engine_import_points_up(edges) -> None:
    assert upward(edges) == []


def test_no_import_circle(edges) -> None:
    assert circles(edges) == []


def test_the_engine_stays_below_the_web(edges) -> None:
    for module, targets in edges.items():
        top = {t.split(".")[0] for t in targets}
        if module.startswith("tuning_core."):
            assert not top & {"streamlit", "pages", "labweb", "bench"}, module
        if module.startswith("labweb."):
            assert "pages" not in top, module


def test_the_rule_would_catch_an_upward_import_and_a_circle() -> None:
    """The checks themselves: a package that imports from above, two modules in a loop, and
    two packages in a loop though no two modules are."""
    made_up = {"tuning_core.core.errors": {"tuning_core.jobs.registry"},
               "tuning_core.jobs.registry": set(), "bench.a": {"bench.b"}, "bench.b": {"bench.a"}}
    assert upward(made_up) == ["tuning_core.core.errors (core) imports "
                               "tuning_core.jobs.registry (jobs)"]
    assert circles(made_up) == [["bench.a", "bench.b"]]
    assert circles({"x": {"y"}, "y": set()}) == []
    crossed = {"tuning_core.runs.a": {"tuning_core.space.b"}, "tuning_core.space.b": set(),
               "tuning_core.space.c": {"tuning_core.runs.d"}, "tuning_core.runs.d": set()}
    assert circles(crossed) == []
    assert circles(package_edges(crossed)) == [["runs", "space"]]
