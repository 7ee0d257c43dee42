"""What the router (``app.py``) and every page share; no page's own drawing lives here.

* ``auth``: who is logged in (lab mode), the actor the engine checks, the admin pages.
* ``state``: one session's form state, and the pages' one import point for ``run_state``.
* ``run_state``: the run every page follows (URL and session), the job registry, engine errors.
* ``live``: polling while something trains, the sidebar's live line, the feed's script.
* ``feed``: the feed's script and style from ``pages/assets/``, with its settings filled in.
* ``live_chart``: Plotly charts that keep zoom and legend while the feed updates them.
* ``search_script``: the search script's download button (Search space, Runs, Best model).

A page's own views are in ``pages/views/``; modules here never import them.
"""
