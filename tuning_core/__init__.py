"""tuning_core: the plain-Python engine of the Keras tuning dashboard.

It never imports streamlit. One package per concern, each importing only the packages below
it (``tests/test_layers.py``): cli > live > jobs > distributed > model > search > analysis >
runs > space > data > lab > core. Each package's ``__init__`` lists its public names.

Importing a package is cheap: TensorFlow is only imported by the modules that train
(``search``, ``model``) and by the data pipeline, so pages can read logs without paying for
it.
"""

from __future__ import annotations

__version__ = "0.1.0"
