"""A package's public names, stated in its ``__init__`` and imported only when first used.

Each package of the engine lists what other packages may use of it, module by module::

    __all__, __getattr__ = public(__name__, {"rundir": ("RunDir", "LOG_FILE"), ...})

``from tuning_core.runs import RunDir`` then imports ``tuning_core.runs.rundir`` on first use
(PEP 562), so importing a package stays cheap: reading a log never imports TensorFlow because
the package beside it trains. The modules themselves are public too (``from tuning_core.runs
import rundir``). Names starting with "_" are the package's own business.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def public(package: str, table: Mapping[str, tuple[str, ...]]
           ) -> tuple[list[str], Callable[[str], Any]]:
    """The package's ``__all__`` and a module ``__getattr__`` that finds each name's module."""
    home = {name: module for module, names in table.items() for name in names}
    hidden = [name for name in [*table, *home] if name.startswith("_")]
    if hidden:
        raise ValueError(f"{package} lists private names as public: {', '.join(hidden)}")

    def __getattr__(name: str) -> Any:
        if name in table:
            return importlib.import_module(f"{package}.{name}")
        if name in home:
            return getattr(importlib.import_module(f"{package}.{home[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted({*table, *home}), __getattr__
