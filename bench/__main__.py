"""``python -m bench [--quick] [--only 1,2] [--patch NAME]``: run figures, print a table, write results.md.

Each figure runs in its own process (``--figure N``), so one figure's TensorFlow state,
memory and threads never colour another's.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import OUT, FigureResult, quiet_tensorflow, write_json
from bench.patches import apply as apply_patches
from bench.report import machine, render, text_table

MODULES = {1: "fig1_time_to_model", 2: "fig2_trial_overhead", 3: "fig3_monitoring",
           4: "fig4_disk", 5: "fig5_memory", 6: "fig6_data_path", 7: "fig7_resolution"}
GROUPS = [(6,), (2,), (3,), (7,), (5,), (4,), (1,)]  # the cheap first
RESULTS = Path(__file__).resolve().parent / "results.md"
NOTES = Path(__file__).resolve().parent / "notes.md"


def run_in_process(numbers: list[int], quick: bool, patches: list[str]) -> None:
    """Measure the figures here and write each as ``bench/out/figN.json``."""
    quiet_tensorflow()
    apply_patches(patches)
    for n in numbers:
        started = time.perf_counter()
        result = importlib.import_module(f"bench.{MODULES[n]}").measure(quick)
        result.seconds = time.perf_counter() - started
        if patches:
            result.notes.append(f"measured with the proposed engine patch(es) {patches}.")
        write_json(OUT / f"fig{n}.json", result.to_dict())


def run_group(numbers: tuple[int, ...], quick: bool, patches: list[str]) -> list[FigureResult]:
    """Run figures in a child process; a failed figure becomes a row saying so."""
    for n in numbers:
        (OUT / f"fig{n}.json").unlink(missing_ok=True)
    args = [sys.executable, "-m", "bench", *(f"--figure={n}" for n in numbers)]
    started = time.perf_counter()
    args += (["--quick"] if quick else []) + [f"--patch={p}" for p in patches]
    done = subprocess.run(args, capture_output=True, text=True)
    results = []
    for n in numbers:
        path = OUT / f"fig{n}.json"
        if path.is_file():
            results.append(FigureResult.from_dict(json.loads(path.read_text())))
        else:
            tail = (done.stderr or "").strip().splitlines()[-3:]
            results.append(FigureResult(n, MODULES[n], "-", "failed: " + " / ".join(tail),
                                        met=False, seconds=time.perf_counter() - started))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--only", help="comma-separated figure numbers, e.g. 2,3")
    parser.add_argument("--patch", action="append", default=[],
                        help="apply a proposed engine change first (see bench/patches.py)")
    parser.add_argument("--figure", type=int, action="append", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.figure:
        run_in_process(args.figure, args.quick, args.patch)
        return 0
    wanted = {int(x) for x in args.only.split(",")} if args.only else set(MODULES)
    OUT.mkdir(parents=True, exist_ok=True)
    started, figures = time.perf_counter(), []
    for group in GROUPS:
        numbers = tuple(n for n in group if n in wanted)
        if numbers:
            figures += run_group(numbers, args.quick, args.patch)
            print("\n".join(text_table(figures[-len(numbers):]).splitlines()[1:]), flush=True)
    figures.sort(key=lambda f: f.number)
    total = time.perf_counter() - started
    print("\n" + text_table(figures))
    extra = NOTES.read_text().splitlines() if NOTES.is_file() else None
    text = render(figures, machine(), "--quick" if args.quick else "full", total, extra)
    (OUT / "results.md").write_text(text)
    complete = not args.only and not args.patch  # only a full, unpatched run is the record
    if complete:
        RESULTS.write_text(text)
    print(f"\nwrote {RESULTS if complete else OUT / 'results.md'} ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
