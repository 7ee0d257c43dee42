"""Figure 8: a search driven through random faults, resumed after each, loses nothing.

``bench/soak/driver.py`` runs a random search of the 'small' preset at 16 px as real
``python -m tuning_core`` processes and hits it with stop-request files, Ctrl-C, SIGTERM,
double Ctrl-C, kill -9 (in start-up and mid-trial), a second process resuming the run
while it trains, its disk (a tmpfs) filling mid-search, its image folder edited between a
stop and a resume, two servers' dispatchers on one workspace with a queued resume, and
power cuts (kill -9 at a random moment) of writers of notes.json, run.json, the job queue,
the lab accounts and best/; it resumes after each, finishes the search and retrains the
best. Then the trial log is checked against KerasTuner's own records, and every file of the
run and the workspace is read back through the product's readers. Beside the soak,
``bench/soak/powercut.py`` kills forked writers of the same files hundreds of times at random
milliseconds (a third of the kept-previous-version files also cut to half, as a file system
may leave them): every file must read whole, old or new, or be restored from its previous
version.
"""

from __future__ import annotations

from bench.harness.common import OUT, FigureResult, digits_dir, fresh_dir, write_json
from bench.soak.driver import KINDS, SoakResult, soak
from bench.soak.powercut import PowercutReport, run_powercut

GOAL = ("over >= 40 random faults of 11 kinds: 0 trials lost, 0 duplicates, 0 double "
        "writers let in, 0 unreadable files, 0 test splits changed silently; every fault "
        "survived as the engine promises, the search finishes and its best retrains; "
        "every file whole after hundreds of power-cut writer kills")
FULL = {"faults": 40, "max_trials": 45, "epochs": 3, "time_limit_s": 1500.0, "kills": 700}
QUICK = {"faults": 11, "max_trials": 12, "epochs": 2, "time_limit_s": 600.0, "kills": 70}
SEED = 8


def met(result: SoakResult, faults: int, cut: PowercutReport) -> bool:
    """The goal: nothing lost or doubled, every fault injected and survived, a finished run,
    and every file read after every power cut."""
    return (not cut.problems and result.trials_lost == 0 and result.duplicates == 0
            and result.double_writers_let_in == 0 and result.unreadable_files == 0
            and result.split_changed_silently == 0 and result.injected >= faults
            and result.survived == result.injected and result.completed == result.max_trials
            and result.retrained and not result.problems)


def rows(result: SoakResult) -> list[dict]:
    """One row per fault kind: how often injected and survived, and the moments chosen."""
    table = []
    for kind in KINDS:
        faults = [f for f in result.faults if f["kind"] == kind and f["injected"]]
        table.append({"fault": kind, "injected": result.faults_injected.get(kind, 0),
                      "survived": result.faults_survived.get(kind, 0),
                      "as promised": sum(1 for f in faults if f["expected"]),
                      "outcomes": ", ".join(sorted({f["outcome"].split(":")[0] for f in faults})),
                      "example moment": faults[0]["moment"] if faults else ""})
    return table


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    result = soak(digits_dir(), fresh_dir(OUT / "fig8"), s["faults"], SEED, s["max_trials"],
                  s["epochs"], s["time_limit_s"])
    write_json(OUT / "fig8" / "soak.json", result.to_dict())  # every fault, for reading
    cut = run_powercut(fresh_dir(OUT / "fig8-powercut"), int(s["kills"]), SEED)
    value = (f"{result.injected} faults, {result.survived} survived; {result.trials_lost} trials "
             f"lost, {result.duplicates} duplicates, {result.double_writers_let_in} double "
             f"writers let in ({result.refused_second_writers} refused), "
             f"{result.unreadable_files} unreadable files, {result.split_changed_silently} "
             f"test splits changed silently; {result.completed}/{result.max_trials} trials, "
             f"retrained: {'yes' if result.retrained else 'no'}; power-cut writers: "
             f"{sum(cut.kills.values())} kills, {cut.torn} cut to half, {cut.restored} "
             f"restored, {len(cut.problems)} unreadable")
    notes = [f"settings: {s}, seed {SEED}; digits, 'small' preset, 16 px, random tuner; "
             f"{result.launches} search/resume processes, {result.wall_s:.0f} s in all.",
             "double writers are counted from the second process's outcome (it must exit 2 "
             "naming the owner's pid) and from the log (a trial or epoch line out of one "
             "writer's order, a trial started twice within one search, more search starts "
             "than processes).",
             "as promised: the process did what the engine says it does (exit codes, one "
             "line, the log's end, a refusal naming the owner, a folder change said with a "
             "count, a queued job run once, every file readable); a fault the run survived "
             "may still break a promise, and that is a problem below.",
             f"power-cut writers (bench/soak/powercut.py, {cut.seconds:.0f} s): kills per "
             f"file {cut.kills}, versions written {cut.versions}; {cut.torn} files cut to "
             f"half after the kill, {cut.restored} restored from their previous version."]
    notes += [f"problem: {p}" for p in result.problems]
    notes += [f"problem (power cut): {p}" for p in cut.problems]
    return FigureResult(8, "Fault soak", GOAL, value, met=met(result, s["faults"], cut),
                        rows=rows(result), notes=notes)
