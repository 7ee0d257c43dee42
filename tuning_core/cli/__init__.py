"""The command line and the launcher: ``python -m tuning_core``, the same code path as the
dashboard.

* ``choose``: command line of choosing by cost: ``trials``, ``cost``, ``front`` and ``best``'s
  limits.
* ``classify``: command line of the model in use: ``classify RUN_DIR FOLDER``, a folder in one
  job.
* ``distributed``: command line of distributed search: ``search|resume --workers N`` and
  ``worker``.
* ``exports``: command line of taking a model out of the lab: ``export``, ``script`` and
  ``report``.
* ``inspection``: command line of looking into a model and its data: ``explain``, ``health``,
  ``exclusions``.
* ``lab``: command line of lab mode: ``user add|list|remove|passwd`` and ``serve``.
* ``main``: command line: the same code path as the dashboard (the job registry and the run
  folder).
* ``serve``: the launcher behind ``make run`` and ``make lab``: checks, then hands over to
  streamlit.
* ``support``: what every command of the command line shares: a quiet TensorFlow import and the
  signals that stop a job (first Ctrl-C or SIGTERM) or abort it (the second).
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "choose": (),
    "classify": ("default_output",),
    "distributed": (),
    "exports": (),
    "inspection": (),
    "lab": ("read_password",),
    "main": ("build_parser", "config_from_args", "main"),
    "serve": ("ServeOptions", "ServerArgs", "check_launch", "is_loopback", "lab_options",
              "refuse", "streamlit_command", "welcome_line"),
    "support": (),
})
