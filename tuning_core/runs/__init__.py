"""A run folder and what it holds: the run.json schema, the folder object, the trial log and
its queries, the ranking, notes, the catalogue of runs, pruning, exclusions and the locks.

* ``catalogue``: the runs folder: list, summarise, delete and prune runs (one run is a
  :class:`RunDir`).
* ``exclusions``: files left out of a dataset's next searches, without touching the user's
  folder.
* ``locks``: one writer per run across processes and machines, and one training slot per
  machine.
* ``notes``: a run's editable metadata: a display name, free-text notes and tags
  (``notes.json``).
* ``pruning``: disk: keep checkpoints of the top-k trials only, and report a run's bytes.
* ``ranking``: which trial is best: one rule for the Monitor, the Runs page, the Best page and
  the retrain.
* ``rundir``: a run folder as one object: its layout, settings, split, log, holder and best
  trials.
* ``readers``: the process's shared readers of trial logs, bounded by size and by use.
* ``runindex``: a run's summary index (``index.json``), kept current by the log's writer:
  what the Runs page lists without replaying the log.
* ``schema``: run settings: what a search is asked to do, as data that round-trips to
  ``run.json``.
* ``triallog``: the trial log: ``trials.jsonl``, written by the search, read by every chart.
* ``trialtable``: questions asked of a trial table (``TrialLogReader.trials()``), answered in
  one place, and a page of it sorted and filtered.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "catalogue": ("DiskSizes", "PAGE_RUNS", "RunSummary", "RunsPage", "active_runs",
                  "create_run", "delete_run", "edit_notes", "filter_runs", "launcher",
                  "list_runs", "load_config", "prune_run", "run_named", "runs_page",
                  "summarize"),
    "exclusions": ("Exclusion", "exclude", "for_run", "restore"),
    "locks": ("FileLock", "HEARTBEAT_S", "LockHolder", "machine_slot", "this_host"),
    "notes": ("MAX_NAME", "MAX_NOTES", "RunNotes", "clean_tags", "parse_tags"),
    "pruning": ("checkpoint_count", "checkpoints_best_first", "folder_bytes", "prune_checkpoints"),
    "ranking": ("RankedTrial", "ranked_frame", "ranked_trials"),
    "rundir": ("EVALUATION_FILE", "HISTORY_FILE", "HYPERPARAMETERS_FILE", "MODEL_FILE",
               "NOTES_FILE", "PROJECT_DIR", "RUN_FILE", "RunDir", "SCRIPT_FILE", "file_stamp"),
    "readers": ("READER_IDLE_S", "READER_LINES", "READERS_MAX", "kept", "reap", "shared_reader"),
    "runindex": ("INDEX_FILE", "RunIndex", "keep", "logged_status", "read_index", "refresh",
                 "write_index"),
    "schema": ("DISTRIBUTIONS", "OBJECTIVES", "RunConfig", "TUNER_HELP", "TUNER_NAMES",
               "TunerSettings", "objective_direction"),
    "triallog": ("COST_COLUMNS", "REPLAY", "TrialLogReader", "TrialLogWriter", "clean_metrics"),
    "trialtable": ("PAGE_ROWS", "TablePage", "ended", "ended_count", "scored", "table_page"),
})
