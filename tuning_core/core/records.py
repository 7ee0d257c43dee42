"""Reading plain JSON values into typed records, with field paths in every error.

The helpers behind :class:`tuning_core.space.schema._Record`: each reader takes a value and
its field path ("conv[1].filters") and returns the value or raises SearchSpaceError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

from tuning_core.core.errors import SearchSpaceError

Reader = Callable[[Any, str], Any]


def field_at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def bad_value(path: str, expected: str, got: Any) -> SearchSpaceError:
    return SearchSpaceError([(path or "space", f"expected {expected}; got {got!r}")])


def exact_keys(d: Any, names: list[str], path: str) -> dict[str, Any]:
    """Return ``d`` when it is a dict with exactly the keys ``names``."""
    if not isinstance(d, dict):
        raise bad_value(path, f"an object with keys {', '.join(names)}", d)
    issues = [(field_at(path, k), "missing") for k in names if k not in d]
    unknown = [str(k) for k in d if k not in names]
    issues += [(field_at(path, k), f"unknown key; expected only {', '.join(names)}")
               for k in unknown]
    if issues:
        raise SearchSpaceError(issues)
    return d


def typed(kinds: type | tuple[type, ...], expected: str) -> Reader:
    def read(v: Any, path: str) -> Any:
        wrong = isinstance(v, bool) or not isinstance(v, kinds)  # JSON true is not a number
        if wrong:
            raise bad_value(path, expected, v)
        return float(v) if kinds == (int, float) else v

    return read


whole_number, number = typed(int, "a whole number"), typed((int, float), "a number")
text_value = typed(str, "text")


def list_of(item: Reader) -> Reader:
    def read(v: Any, path: str) -> list[Any]:
        if not isinstance(v, list):
            raise bad_value(path, "a list", v)
        return [item(x, field_at(path, i)) for i, x in enumerate(v)]

    return read


def plain(obj: Any) -> Any:
    """Dataclasses, enums and lists as plain JSON values."""
    if isinstance(obj, Enum):
        return obj.value
    if is_dataclass(obj):
        return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, list):
        return [plain(x) for x in obj]
    return obj


# ---------------------------------------------------------------- list checks (issues)


def choice_issues(values: list[Any], path: str) -> list[tuple[str, str]]:
    if not values:
        return [(path, "choose at least one value; the list is empty")]
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    return [(path, f"duplicate values: {', '.join(dupes)}")] if dupes else []


def positive_issues(values: list[Any], path: str, what: str) -> list[tuple[str, str]]:
    bad = [repr(v) for v in values if isinstance(v, bool) or not isinstance(v, int) or v < 1]
    found = [(path, f"{what} must be whole numbers of at least 1; got {', '.join(bad)}")]
    return choice_issues(values, path) + (found if bad else [])


def known_issues(values: list[Any], path: str, what: str,
                 known: tuple[str, ...]) -> list[tuple[str, str]]:
    bad = [v for v in values if v not in known]
    msg = f"unknown {what} {', '.join(repr(v) for v in bad)}; known: {', '.join(known)}"
    return choice_issues(values, path) + ([(path, msg)] if bad else [])
