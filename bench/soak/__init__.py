"""The fault soak behind figure 8, split by concern so each part can be read and tested alone:
the soak driver and its result (``driver``), one injector per fault kind and the run's owner
processes (``faults``), the faults around the run: disk full, folder edited, two servers,
power cut (``workspace_faults``, with ``writers``, the power cut's writer child, and
``files``, every file read back through the product's readers and the small disk), child
processes in sessions of their own and the fault plan (``procs``), and the audit of the
trial log against KerasTuner's records (``audit``).
"""
