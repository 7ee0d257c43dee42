"""The Backbone section of the Search space page: which pretrained models, weights, fine-tuning."""

from __future__ import annotations

import streamlit as st

from pages.common import state
from pages.views import space_tables as tables
from tuning_core.core.errors import TuningError
from tuning_core.space.backbones import BACKBONES, NONE, WEIGHTS, fetch_weights, weights_status
from tuning_core.space.schema import BackboneSpace

FINE_TUNE_LR_GRID = [m * 10.0 ** e for e in range(-7, 0) for m in (1, 2, 5)] + [1.0]


def _label(name: str) -> str:
    return "none (the conv blocks below)" if name == NONE else name


def _captions(names: list[str]) -> None:
    for name in names:
        st.caption(BACKBONES[name].describe() + f"; preprocessing {BACKBONES[name].preprocessing}.")


def weights_notes(b: BackboneSpace) -> None:
    """For ImageNet weights: each chosen backbone's file, available or where to put it."""
    if b.weights != "imagenet":
        return
    for name in (n for n in b.names if n in BACKBONES):
        status = weights_status(name)
        if status.available:
            st.success(f"{name}: {status.describe()}")
            continue
        st.warning(f"{name}: {status.describe()}")
        if st.button(f"Download the {name} weights", key=f"space_fetch_{name}",
                     help="Through Keras' own loader, into its cache; needs the network."):
            _fetch(name)


def _fetch(name: str) -> None:
    with st.spinner(f"Downloading the {name} weights..."):
        try:
            fetch_weights(name)
        except TuningError as error:
            st.error(str(error))
            return
    st.rerun()


def backbone(b: BackboneSpace) -> tuple[BackboneSpace, list[tables.Issue]]:
    """The section's widgets; the backbone space and the cells that could not be read."""
    st.caption("A Keras application pretrained on ImageNet, before the dense blocks. A trial "
               "with a backbone skips the conv blocks; 'none' trains the conv blocks instead. "
               "Trainable top: 0 keeps the backbone frozen, k fine-tunes its last k layers "
               "(batch norm stays frozen) with the fine-tune learning rate.")
    options = [NONE, *BACKBONES] + [c for c in b.choices if c != NONE and c not in BACKBONES]
    choices = st.multiselect("Backbones to try", options, format_func=_label,
                             key=state.widget("space.backbones", list(b.choices)))
    _captions([c for c in choices if c in BACKBONES])
    left, right = st.columns(2)
    weights = left.radio("Weights", list(WEIGHTS), horizontal=True,
                         key=state.widget("space.weights", b.weights))
    text = right.text_input("Trainable top layers (choices)", help="e.g. 0, 20",
                            key=state.widget("space.trainable_top", tables.join(b.trainable_top)))
    top, issues = tables.parse_ints(text, "backbone.trainable_top")
    grid = sorted(set(FINE_TUNE_LR_GRID) | {b.learning_rate_min, b.learning_rate_max})
    lr = st.select_slider("Fine-tune learning rate (log scale), used instead of the training "
                          "range when a backbone is active", grid,
                          value=(b.learning_rate_min, b.learning_rate_max),
                          format_func=lambda v: f"{v:.0e}",
                          key=state.WIDGET_PREFIX + "space.ft_lr")
    chosen = BackboneSpace(list(choices), weights, top, float(lr[0]), float(lr[1]))
    weights_notes(chosen)
    return chosen, issues
