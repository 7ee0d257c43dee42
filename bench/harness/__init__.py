"""What runs the benchmark and records it: shared helpers and the ``FigureResult`` every figure
returns (``common``), the results table and ``results.md`` (``report``), and the engine changes
proposed as monkeypatches that a figure can be measured with (``patches``).

``bench/__main__.py`` drives these; nothing here trains.
"""
