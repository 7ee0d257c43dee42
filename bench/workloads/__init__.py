"""What the figures train and measure on, kept apart from the figures so several share one:
the generated datasets (``datasets``), the plain KerasTuner tutorial workflow they compare
against (``anchor``, also run as ``python -m bench.workloads.anchor``), the fixed model of the
overhead figures (``fixed_model``), a long search sampled as it runs (``growth``) and a
lab's year of runs written by the project's own writers, nothing trained (``labyear``).
"""
