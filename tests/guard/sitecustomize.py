"""Loaded by every Python the tests start (``tests/guard`` is on their ``PYTHONPATH``): the
training guard of ``keras_guard.py``."""

import keras_guard

keras_guard.install()
