"""Search space page: design the per-layer CNN space, see its size and problems, share it."""

from __future__ import annotations

import streamlit as st

from pages.common import state
from pages.common.search_script import script_download
from pages.views import space_backbone as backbone_form
from pages.views import space_form as form
from pages.views import space_tables as tables
from tuning_core.space.schema import (
    BackboneSpace,
    SearchSpace,
    backbone_issues_for_image,
    validate,
    validate_for_image,
)
from tuning_core.space.size import space_size


def sized(blocks: list, count: int, table_key: str) -> list:
    """The blocks for ``count`` rows; a row-count change drops the table's pending edits."""
    if len(blocks) != count:
        st.session_state.pop(table_key, None)
    return tables.resize(blocks, count)


def conv_section(space: SearchSpace, chosen: BackboneSpace) -> tuple:
    """Conv block count and table; the blocks and unreadable cells."""
    st.subheader("Convolution blocks")
    st.caption("Conv2D → batch norm → activation → pooling → dropout, for each block a "
               "trial builds. Block i's choices apply only in trials with at least i blocks.")
    if chosen.active:
        st.info("Skipped in trials that use a pretrained backbone"
                + ("." if "none" in chosen.choices else ": every trial here uses one."))
    count = form.block_range("Number of conv blocks", "space.conv_blocks", space.conv_blocks, 1)
    frame = tables.conv_frame(sized(space.conv, count.max, form.CONV_TABLE))
    blocks, issues = tables.parse_conv(form.table(frame, form.CONV_TABLE, tables.conv_columns()))
    return count, blocks, issues


def dense_section(space: SearchSpace) -> tuple:
    """Dense block count and table; the blocks and unreadable cells."""
    st.subheader("Dense blocks")
    st.caption("After the head (flatten; global average pooling when the last map holds over "
               "8,192 values): Dense → activation → dropout, then the softmax output.")
    count = form.block_range("Number of dense blocks", "space.dense_blocks",
                             space.dense_blocks, 0)
    template = space.dense or [tables.DenseBlockSpace([64], ["relu"], tables.DropoutRange())]
    rows = sized(space.dense if space.dense else template, count.max, form.DENSE_TABLE)
    if count.max == 0:
        st.session_state.pop(form.DENSE_TABLE, None)
        return count, [], []
    frame = tables.dense_frame(rows)
    blocks, issues = tables.parse_dense(form.table(frame, form.DENSE_TABLE,
                                                   tables.dense_columns()))
    return count, blocks, issues


def summary(space: SearchSpace, issues: list) -> None:
    """Size of the space, image-size warning and overall validity."""
    st.subheader("Size of the space")
    size = space_size(space)
    st.metric("Combinations", size.describe())
    for _, message in validate_for_image(space, state.image_config().image_size):
        st.warning(message)
    if issues:
        st.error(f"{len(issues)} problem(s) to fix before a search can start (see above).")
    else:
        st.success("The space is valid.")


st.title("Search space")
form.preset_picker()
stored = state.space()
st.subheader("Backbone")
chosen, backbone_issues = backbone_form.backbone(stored.backbone)
backbone_box = st.container()
conv_count, conv, conv_issues = conv_section(stored, chosen)
conv_box = st.container()  # this section's problems, filled once the whole space is checked
dense_count, dense, dense_issues = dense_section(stored)
dense_box = st.container()
st.subheader("Training")
training = form.training(stored.training)
training_box = st.container()
designed = SearchSpace(conv_count, conv, dense_count, dense, training, chosen)
unreadable = conv_issues + dense_issues + backbone_issues
issues = unreadable + [i for i in validate(designed) if i[0] not in {p for p, _ in unreadable}]
issues += backbone_issues_for_image(designed, state.image_config().image_size)
for box, prefixes in ((backbone_box, ("backbone",)), (conv_box, ("conv",)),
                      (dense_box, ("dense",)), (training_box, ("training",))):
    with box:
        form.show_issues(issues, prefixes)
state.set_space(designed)
summary(designed, issues)
st.subheader("Share")
form.share(designed)
if (followed := state.current_run()) is not None:
    st.caption(f"Run {followed.name}: its search as one standalone script (its own space, "
               "tuner and split, which may differ from the space above).")
    with state.engine_errors():
        script_download(followed, key="space_script")
