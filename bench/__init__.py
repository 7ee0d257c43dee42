"""Benchmarks (issue 5): time to a good model, overheads, disk, memory, dashboard data path.

``python -m bench`` (``make bench``) runs every figure, each in its own process, prints a
table and writes ``bench/results.md``; raw outputs go to ``bench/out/`` (git-ignored).
``bench/anchor.py`` is the plain KerasTuner tutorial workflow the figures compare against.
"""
