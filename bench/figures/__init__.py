"""One module per figure of ``bench/results.md``, numbered with two digits so they list in
order: ``figNN_<what>.py``, each with ``measure(quick) -> FigureResult``.

``bench/__main__.py`` (``MODULES``) imports each in a process of its own; figure 1 also runs
its own side as ``python -m bench.figures.fig01_time_to_model``.
"""
