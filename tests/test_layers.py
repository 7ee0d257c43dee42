"""The house's layer rule: every engine module has its room, rooms import only downwards, and
nothing imports in a circle.

Rooms, highest first (a module may import from its own room and any room below it):

* cli: the command line and the launcher (``cli``, ``cli_*``, ``serve``).
* live: what a watching page gets: the content, its HTML and the feed's answers.
* jobs: who trains what and when: the registry, the queue and its dispatcher.
* distributed: the chief and its workers.
* model: a search and its model: tuners, the hypermodel, the retrain, predictions, exports,
  explanations, the standalone script and the report.
* analysis: reading finished trials: importance, diagnosis, charts, comparison, planning,
  cost fronts, margins.
* runs: a run folder and what it holds: settings, the trial log, ranking, notes, locks.
* data: images and the search space: scan, split, pipeline, uploads, presets, backbones.
* lab: accounts, sessions, permissions, the actor, audit, data roots, lab files.
* core: errors, states, atomic writes, the workspace's paths, record helpers, stop control.

The engine never imports Streamlit or the pages; ``labweb`` never imports the pages. Lazy
imports inside functions count too: they are dependencies all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tuning_core", "labweb", "pages", "bench")
ROOMS: dict[str, tuple[str, ...]] = {
    "cli": ("__main__", "cli", "cli_choose", "cli_dist", "cli_exports", "cli_inspect",
            "cli_lab", "cli_support", "serve"),
    "live": ("liveanswers", "livehtml", "livefeed", "feed"),
    "jobs": ("jobs", "dispatch", "jobqueue", "queue_model"),
    "distributed": ("distributed", "chief", "worker"),
    "model": ("search", "tuners", "callbacks", "hypermodel", "precision", "tfmemory", "best",
              "predict", "exports", "exports.formats", "exports.inference", "exports.records",
              "exports.runtimes", "exports.service", "explain", "gradcam", "cost", "script",
              "script_template", "report", "report_svg", "health"),
    "analysis": ("importance", "diagnose", "charts", "parcoords", "compare", "planner",
                 "pareto", "pareto_chart", "margin"),
    "runs": ("rundir", "triallog", "trialtable", "ranking", "notes", "runs", "pruning",
             "ownership", "settings", "exclusions"),
    "data": ("space", "presets", "space_size", "backbones", "dataset", "pipeline",
             "sample_data", "uploads", "upload_checks"),
    "lab": ("accounts", "sessions", "permissions", "actor", "audit", "roots", "labconfig",
            "labfiles", "ratelimit"),
    "core": ("errors", "states", "atomic", "workspace", "_records", "control", "background"),
}
ORDER = tuple(ROOMS)  # highest first


def modules(package: str) -> dict[str, Path]:
    """Every module of a package by its dotted name inside it ("exports.formats")."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
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
    inner = module.removeprefix("tuning_core.")
    return next((room for room, names in ROOMS.items() if inner in names), None)


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Engine imports that point up the order of rooms."""
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


def test_every_engine_module_has_a_room() -> None:
    placed = {name for names in ROOMS.values() for name in names}
    assert sorted(set(modules("tuning_core")) - placed) == []
    assert sorted(placed - set(modules("tuning_core"))) == []  # no room lists a module gone


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
    """The checks themselves: a room that imports from above, and two modules in a loop."""
    made_up = {"tuning_core.errors": {"tuning_core.jobs"}, "tuning_core.jobs": set(),
               "bench.a": {"bench.b"}, "bench.b": {"bench.a"}}
    assert upward(made_up) == ["tuning_core.errors (core) imports tuning_core.jobs (jobs)"]
    assert circles(made_up) == [["bench.a", "bench.b"]]
    assert circles({"x": {"y"}, "y": set()}) == []
