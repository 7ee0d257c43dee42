"""Benchmarks (issue 5): time to a good model, overheads, disk, memory, dashboard data path.

``python -m bench`` (``make bench``) runs every figure, each in its own process, prints a
table and writes ``bench/results.md``; raw outputs go to ``bench/out/`` (git-ignored).
The modules are grouped by the part they play, so a figure reads as what it measures and
the machinery it shares lives once:

* ``harness``: what runs the figures and records them (results, the report, patches).
* ``workloads``: what the figures train and measure on: the generated datasets, the anchor
  (``bench/workloads/anchor.py``, the plain KerasTuner tutorial workflow the figures compare
  against), the fixed model and the sampled long search.
* ``figures``: one module per figure, ``figNN_<what>.py``, each with ``measure(quick)``.
* ``soak``: the fault soak behind figure 8: processes, injectors, the log audit.
* ``viewers``: the dashboard and headless browsers behind figures 9 and 11.
* ``workers``: the distributed searches behind figure 10.

Bench reads run folders only through :class:`tuning_core.runs.rundir.RunDir` (its paths, its
trial log reader), so a change to a run's layout is made in one place.
"""
