"""Each page's own views, named by the page they serve (``<page>_<part>.py``, or the page's
name alone when it has one view module); the page scripts in ``pages/`` are their controllers.

* Data (``pages/data.py``): ``data_folder`` (scan, browser, summary), ``data_upload``.
* Search space: ``space_form``, ``space_tables`` (the block tables), ``space_backbone``.
* Search: ``search_launch`` (tuner form, summary), ``search_workers`` (agents, workers),
  ``search_budget``, ``search_queue``.
* Monitor: ``monitor`` (its log snapshot is read by Best model too).
* Best model: ``best_model`` (evaluation, gallery, try-it, downloads), ``best_exports``,
  ``best_insight`` (explanations), ``best_health`` (data health; Search shows its exclusion
  note), ``best_front`` (choose by cost; Compare draws its front over several runs),
  ``best_classify`` (a folder classified in a background job).
* Runs: ``runs`` (Compare labels its runs with it). Compare: ``compare``.

A view used by a second page is named for its main page and says so in its docstring; what
every page shares is in ``pages/common/``.
"""
