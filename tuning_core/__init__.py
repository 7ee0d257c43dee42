"""tuning_core: the plain-Python engine of the Keras tuning dashboard.

It never imports streamlit. Importing this package is cheap: TensorFlow is only
imported by the modules that train (``hypermodel``, ``tuners``, ``search``, ``best``)
and by the data pipeline, so pages can read logs without paying for it.
"""

from __future__ import annotations

__version__ = "0.1.0"
