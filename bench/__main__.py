"""``python -m bench [--quick] [--only 1,2] [--patch NAME]``: run figures, write results.md.

Each figure runs in its own process (``--figure N``), so one figure's TensorFlow state,
memory and threads never colour another's. After the figures, those an engine change is
proposed for run again with that change applied (:mod:`bench.harness.patches`), so results.md
shows its measured effect beside the figure.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.harness.common import OUT, FigureResult, quiet_tensorflow, write_json
from bench.harness.patches import apply as apply_patches
from bench.harness.report import machine, render, text_table

# figure number -> its module in bench/figures/ (zero-padded, so the folder lists in order)
MODULES = {1: "fig01_time_to_model", 2: "fig02_trial_overhead", 3: "fig03_monitoring",
           4: "fig04_disk", 5: "fig05_memory", 6: "fig06_data_path", 7: "fig07_resolution",
           8: "fig08_fault_soak", 9: "fig09_viewers", 10: "fig10_workers", 11: "fig11_pages",
           12: "fig12_exports", 13: "fig13_choose", 14: "fig14_scale",
           15: "fig15_classify", 16: "fig16_agents"}
ORDER = (6, 2, 3, 7, 12, 15, 13, 5, 4, 9, 11, 14, 8, 10, 16, 1)  # the cheap first
# Figures measured again with the engine changes proposed for them (bench/harness/patches.py);
# empty while none is pending.
PROPOSED_PATCHES: dict[int, list[str]] = {}
RESULTS = Path(__file__).resolve().parent / "results.md"
NOTES = Path(__file__).resolve().parent / "notes.md"


def _json_path(n: int, patches: list[str]) -> Path:
    return OUT / (f"fig{n}-patched.json" if patches else f"fig{n}.json")


def run_in_process(n: int, quick: bool, patches: list[str]) -> None:
    """Measure figure ``n`` here and write it as ``bench/out/figN[-patched].json``."""
    quiet_tensorflow()
    apply_patches(patches)
    started = time.perf_counter()
    result = importlib.import_module(f"bench.figures.{MODULES[n]}").measure(quick)
    result.seconds = time.perf_counter() - started
    if patches:
        result.notes.append(f"measured with the proposed engine change(s) {', '.join(patches)}.")
    write_json(_json_path(n, patches), result.to_dict())


def run_child(n: int, quick: bool, patches: list[str]) -> FigureResult:
    """Run figure ``n`` in a child process; a failure becomes a result that says so."""
    path = _json_path(n, patches)
    path.unlink(missing_ok=True)
    args = [sys.executable, "-m", "bench", f"--figure={n}", *(["--quick"] if quick else []),
            *(f"--patch={p}" for p in patches)]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if path.is_file():
        return FigureResult.from_dict(json.loads(path.read_text()))
    (OUT / f"fig{n}.stderr.txt").write_text(done.stderr or "")
    tail = " / ".join((done.stderr or "").strip().splitlines()[-2:])
    return FigureResult(n, MODULES[n], "-", f"failed: {tail}", met=False,
                        seconds=time.perf_counter() - started)


def _print_row(result: FigureResult) -> None:
    print(text_table([result]).splitlines()[-1], flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--only", help="comma-separated figure numbers, e.g. 2,3")
    parser.add_argument("--patch", action="append", default=[],
                        help="apply a proposed engine change first (see bench/harness/patches.py)")
    parser.add_argument("--render", action="store_true",
                        help="rewrite results.md from the last whole run's saved figures")
    parser.add_argument("--figure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.figure:
        run_in_process(args.figure, args.quick, args.patch)
        return 0
    if args.render:
        return rerender()
    wanted = [n for n in ORDER if not args.only or str(n) in args.only.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    started, figures, patched = time.perf_counter(), [], []
    for n in wanted:
        figures.append(run_child(n, args.quick, args.patch))
        _print_row(figures[-1])
    for n in (n for n in wanted if n in PROPOSED_PATCHES and not args.patch):
        patched.append(run_child(n, args.quick, PROPOSED_PATCHES[n]))
        _print_row(patched[-1])
    figures.sort(key=lambda f: f.number)
    total = time.perf_counter() - started
    print("\n" + text_table(figures))
    run = {"mode": "--quick" if args.quick else "full", "total_s": total, "machine": machine(),
           "figures": [f.to_dict() for f in figures], "patched": [f.to_dict() for f in patched]}
    # only a whole, unpatched, full run is the record; the rest go to bench/out/
    complete = not (args.only or args.patch or args.quick)
    write_json(OUT / ("run.json" if complete else "partial-run.json"), run)
    target = RESULTS if complete else OUT / "results.md"
    target.write_text(_render(run))
    print(f"\nwrote {target} ({total / 60:.1f} min)")
    return 0


def _render(run: dict) -> str:
    extra = NOTES.read_text().splitlines() if NOTES.is_file() else None
    figures = [FigureResult.from_dict(f) for f in run["figures"]]
    patched = [FigureResult.from_dict(f) for f in run["patched"]]
    return render(figures, run["machine"], run["mode"], run["total_s"], extra, patched)


def rerender() -> int:
    """Rewrite results.md from bench/out/run.json (after editing bench/notes.md, say)."""
    path = OUT / "run.json"
    if not path.is_file():
        print(f"no whole run saved yet ({path} is missing): run python -m bench first")
        return 2
    RESULTS.write_text(_render(json.loads(path.read_text())))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
