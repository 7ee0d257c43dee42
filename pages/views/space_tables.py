"""The block tables of the Search space page: SearchSpace blocks <-> editable DataFrames.

One row per block index. Number choices are typed as comma-separated text ("32, 64");
activations and pooling are multiselect cells. Parsing a table returns the blocks and the
problems it found, each with the field path that ``tuning_core.space.schema.validate`` uses, so
messages appear next to the table they belong to.
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import streamlit as st

from tuning_core.space.schema import (
    ACTIVATIONS,
    POOLINGS,
    ConvBlockSpace,
    DenseBlockSpace,
    DropoutRange,
    Toggle,
)

Issue = tuple[str, str]


def join(values: list[Any]) -> str:
    """[32, 64] -> "32, 64"."""
    return ", ".join(str(v) for v in values)


def parse_ints(text: Any, path: str) -> tuple[list[int], list[Issue]]:
    """"32, 64" -> [32, 64]; an issue naming ``path`` for anything not a whole number."""
    parts = [p.strip() for p in str(text or "").replace(";", ",").split(",") if p.strip()]
    bad = [p for p in parts if not p.lstrip("-").isdigit()]
    if bad:
        return [], [(path, f"expected whole numbers separated by commas; got {', '.join(bad)}")]
    return [int(p) for p in parts], []


def resize(blocks: list[Any], count: int) -> list[Any]:
    """The first ``count`` blocks, padded with copies of the last one."""
    blocks = list(blocks[:count])
    while blocks and len(blocks) < count:
        blocks.append(copy.deepcopy(blocks[-1]))
    return blocks


def _words(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, str):
        return [w.strip() for w in value.split(",") if w.strip()]
    return [str(v) for v in value]


def _dropout(row: Any) -> DropoutRange:
    return DropoutRange(float(row["dropout min"]), float(row["dropout max"]),
                        float(row["dropout step"]))


def conv_frame(blocks: list[ConvBlockSpace]) -> pd.DataFrame:
    """One row per conv block."""
    return pd.DataFrame([{
        "filters": join(b.filters), "kernel sizes": join(b.kernel_sizes),
        "activations": list(b.activations), "batch norm": b.batch_norm.value,
        "dropout min": b.dropout.min, "dropout max": b.dropout.max,
        "dropout step": b.dropout.step, "pooling": list(b.pooling),
    } for b in blocks], index=[f"block {i + 1}" for i in range(len(blocks))])


def dense_frame(blocks: list[DenseBlockSpace]) -> pd.DataFrame:
    """One row per dense block."""
    return pd.DataFrame([{
        "units": join(b.units), "activations": list(b.activations),
        "dropout min": b.dropout.min, "dropout max": b.dropout.max,
        "dropout step": b.dropout.step,
    } for b in blocks], index=[f"dense {i + 1}" for i in range(len(blocks))])


def parse_conv(frame: pd.DataFrame) -> tuple[list[ConvBlockSpace], list[Issue]]:
    """Blocks from an edited conv table, and the cells that could not be read."""
    blocks, issues = [], []
    for i, (_, row) in enumerate(frame.iterrows()):
        filters, bad_f = parse_ints(row["filters"], f"conv[{i}].filters")
        kernels, bad_k = parse_ints(row["kernel sizes"], f"conv[{i}].kernel_sizes")
        issues += bad_f + bad_k
        blocks.append(ConvBlockSpace(filters, kernels, _words(row["activations"]),
                                     Toggle(row["batch norm"] or "off"), _dropout(row),
                                     _words(row["pooling"])))
    return blocks, issues


def parse_dense(frame: pd.DataFrame) -> tuple[list[DenseBlockSpace], list[Issue]]:
    """Blocks from an edited dense table, and the cells that could not be read."""
    blocks, issues = [], []
    for i, (_, row) in enumerate(frame.iterrows()):
        units, bad = parse_ints(row["units"], f"dense[{i}].units")
        issues += bad
        blocks.append(DenseBlockSpace(units, _words(row["activations"]), _dropout(row)))
    return blocks, issues


def _dropout_columns() -> dict[str, Any]:
    number = st.column_config.NumberColumn
    return {"dropout min": number(min_value=0.0, max_value=0.95, step=0.05, format="%.2f"),
            "dropout max": number(min_value=0.0, max_value=0.95, step=0.05, format="%.2f"),
            "dropout step": number(min_value=0.01, max_value=0.5, step=0.05, format="%.2f")}


def conv_columns() -> dict[str, Any]:
    """Column editors of the conv table."""
    text, multi = st.column_config.TextColumn, st.column_config.MultiselectColumn
    return {"filters": text(help="Choices, e.g. 32, 64"),
            "kernel sizes": text(help="Choices, e.g. 3, 5"),
            "activations": multi(options=list(ACTIVATIONS)),
            "batch norm": st.column_config.SelectboxColumn(options=[t.value for t in Toggle],
                                                           required=True),
            "pooling": multi(options=list(POOLINGS)), **_dropout_columns()}


def dense_columns() -> dict[str, Any]:
    """Column editors of the dense table."""
    return {"units": st.column_config.TextColumn(help="Choices, e.g. 64, 128"),
            "activations": st.column_config.MultiselectColumn(options=list(ACTIVATIONS)),
            **_dropout_columns()}


def issues_under(issues: list[Issue], prefixes: tuple[str, ...]) -> list[str]:
    """The messages of the issues whose field path starts with one of ``prefixes``."""
    return [f"{path}: {msg}" for path, msg in issues if path.startswith(prefixes)]
