"""The fault soak behind figure 8, split by concern so each part can be read and tested alone:
the soak driver and its result (``driver``), one injector per fault kind and the run's owner
processes (``faults``), child processes in sessions of their own and the fault plan
(``procs``), and the audit of the trial log against KerasTuner's records (``audit``).
"""
