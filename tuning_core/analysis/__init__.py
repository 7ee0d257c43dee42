"""Reading trials that ran: importance, diagnosis, charts, parallel coordinates, comparison,
planning, cost fronts and honest margins. No training here.

* ``charts``: plotly figures for the dashboard, one small builder per chart.
* ``compare``: two or more runs side by side: the settings that differ, best scores, and chart
  data.
* ``diagnose``: say when a search learns nothing: completed trials at chance, and the likely
  causes.
* ``importance``: hyperparameter importance from the trials table, the way Optuna's
  MeanDecreaseImpurity does it.
* ``margin``: an honest margin on every accuracy: how sure a score on N test images can be.
* ``parcoords``: parallel coordinates of the completed trials, drawn as SVG lines (Plotly
  scatter traces).
* ``pareto``: choose by cost: the Pareto front of the objective against latency or parameters.
* ``pareto_chart``: the Pareto figure: the objective against a cost, the front drawn, the rest
  greyed.
* ``planner``: fit a search to a time budget: the image size and trial count from the data and
  the minutes.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "charts": (),
    "compare": ("Comparison", "compare_runs", "differing_settings", "flatten"),
    "diagnose": ("ChanceReport", "chance_report", "images_per_class", "original_side",
                 "run_chance_report"),
    "importance": ("Importance", "hp_columns", "hp_importance", "hp_name"),
    "margin": ("Accuracy", "Difference", "evaluation_accuracy", "per_class_table",
               "weakest_class_text", "wilson"),
    "parcoords": ("parallel_figure",),
    "pareto": ("AXES", "LimitChoice", "Limits", "combined_trials", "front_frame",
               "listed_trials", "non_dominated", "pick_within"),
    "pareto_chart": ("frame_figure", "front_figure"),
    "planner": ("DataShape", "SearchPlan", "plan_for", "plan_search", "run_pace", "trial_epochs"),
})
