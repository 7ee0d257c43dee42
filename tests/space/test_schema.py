"""Search-space dataclasses: JSON round trip, validation messages, size, presets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuning_core.core.errors import SearchSpaceError, SettingsError
from tuning_core.space.presets import DEFAULT_PRESET, PRESETS, get_preset
from tuning_core.space.schema import (
    ConvBlockSpace,
    DenseBlockSpace,
    DropoutRange,
    IntRange,
    SearchSpace,
    Toggle,
    TrainingSpace,
    check,
    validate,
    validate_for_image,
)
from tuning_core.space.size import SpaceSize, space_size

ROOT = Path(__file__).resolve().parents[2]


def conv(**changes: object) -> ConvBlockSpace:
    """One conv block with a single choice everywhere (1 combination), overridable."""
    fields = dict(
        filters=[8],
        kernel_sizes=[3],
        activations=["relu"],
        batch_norm=Toggle.OFF,
        dropout=DropoutRange(),
        pooling=["max"],
    )
    return ConvBlockSpace(**{**fields, **changes})  # type: ignore[arg-type]


def dense(**changes: object) -> DenseBlockSpace:
    fields = dict(units=[16], activations=["relu"], dropout=DropoutRange())
    return DenseBlockSpace(**{**fields, **changes})  # type: ignore[arg-type]


def training(**changes: object) -> TrainingSpace:
    fields = dict(
        optimizers=["adam"], learning_rate_min=1e-3, learning_rate_max=1e-3, batch_sizes=[32]
    )
    return TrainingSpace(**{**fields, **changes})  # type: ignore[arg-type]


def make_space(convs=None, conv_range=(1, 1), denses=(), dense_range=(0, 0), train=None):
    """A valid one-combination space unless the arguments say otherwise."""
    return SearchSpace(
        conv_blocks=IntRange(*conv_range),
        conv=list(convs) if convs is not None else [conv() for _ in range(conv_range[1])],
        dense_blocks=IntRange(*dense_range),
        dense=list(denses),
        training=train or training(),
    )


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name: str) -> None:
    space = get_preset(name)
    text = space.to_json()
    assert SearchSpace.from_json(text) == space
    assert SearchSpace.from_dict(json.loads(text)) == space
    assert json.loads(text)["schema_version"] == 3


def test_toggles_serialize_as_words() -> None:
    space = make_space(convs=[conv(batch_norm=Toggle.TUNED)], train=training(flip=Toggle.ON))
    d = json.loads(space.to_json())
    assert d["conv"][0]["batch_norm"] == "tuned"
    assert (d["training"]["flip"], d["training"]["zoom"]) == ("on", "off")
    assert SearchSpace.from_dict(d).conv[0].batch_norm is Toggle.TUNED


def _problems(d: object) -> list[tuple[str, str]]:
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_dict(d)
    return info.value.issues


def test_from_dict_rejects_another_schema_version() -> None:
    d = make_space().to_dict() | {"schema_version": 4}
    [(field, message)] = _problems(d)
    assert field == "schema_version" and "expected 1 or 2 or 3; got 4" in message


def test_from_dict_names_missing_and_unknown_keys() -> None:
    d = make_space().to_dict()
    del d["training"]
    del d["schema_version"]
    d["conv"][0]["stride"] = 2
    assert set(_problems(d)) >= {("training", "missing"), ("schema_version", "missing")}
    d = make_space().to_dict()
    d["conv"][0]["stride"] = 2
    [(field, message)] = _problems(d)
    assert field == "conv[0].stride" and message.startswith("unknown key")


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("conv", 0, "filters", 0), "32", "conv[0].filters[0]"),
        (("conv", 0, "filters"), 32, "conv[0].filters"),
        (("conv", 0, "batch_norm"), "maybe", "conv[0].batch_norm"),
        (("conv", 0, "dropout", "max"), "0.5", "conv[0].dropout.max"),
        (("training", "learning_rate_min"), None, "training.learning_rate_min"),
        (("conv_blocks",), [1, 2], "conv_blocks"),
    ],
)
def test_from_dict_names_values_of_the_wrong_type(path, value, field) -> None:
    d = make_space().to_dict()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    [(got_field, message)] = _problems(d)
    assert got_field == field and message.startswith("expected")


def test_from_json_rejects_text_that_is_not_json() -> None:
    with pytest.raises(SearchSpaceError, match="not valid JSON"):
        SearchSpace.from_json("{conv: ")


# ---------------------------------------------------------------- validation


def test_a_valid_space_has_no_issues_and_check_passes() -> None:
    assert validate(make_space()) == []
    check(make_space())


CASES = [
    # (change to a valid space, field path, words the message must hold)
    (lambda s: setattr(s, "conv_blocks", IntRange(2, 1)), "conv_blocks",
     "min (2) is above max (1)"),
    (lambda s: setattr(s, "conv_blocks", IntRange(0, 1)), "conv_blocks.min",
     "at least one conv block"),
    (lambda s: setattr(s, "dense_blocks", IntRange(-1, 0)), "dense_blocks.min", "negative"),
    (lambda s: setattr(s.conv[0], "filters", []), "conv[0].filters", "at least one value"),
    (lambda s: setattr(s.conv[0], "filters", [8, 0]), "conv[0].filters", "at least 1; got 0"),
    (lambda s: setattr(s.conv[0], "filters", [8, 8]), "conv[0].filters", "duplicate values: 8"),
    (lambda s: setattr(s.conv[0], "kernel_sizes", [-3]), "conv[0].kernel_sizes", "got -3"),
    (lambda s: setattr(s.conv[0], "activations", ["relu", "rleu"]), "conv[0].activations",
     "unknown activation 'rleu'; known: relu, elu"),
    (lambda s: setattr(s.conv[0], "activations", []), "conv[0].activations", "at least one"),
    (lambda s: setattr(s.conv[0], "pooling", ["min"]), "conv[0].pooling",
     "unknown pooling 'min'; known: max, average, none"),
    (lambda s: setattr(s.conv[0], "dropout", DropoutRange(0.0, 1.0)), "conv[0].dropout.max",
     "at least 0 and below 1; got 1.0"),
    (lambda s: setattr(s.conv[0], "dropout", DropoutRange(-0.1, 0.2)), "conv[0].dropout.min",
     "got -0.1"),
    (lambda s: setattr(s.conv[0], "dropout", DropoutRange(0.4, 0.2)), "conv[0].dropout",
     "min (0.4) is above max (0.2)"),
    (lambda s: setattr(s.conv[0], "dropout", DropoutRange(0.0, 0.2, 0.0)), "conv[0].dropout.step",
     "above 0; got 0.0"),
    (lambda s: s.conv.append(conv()), "conv", "expected 1 conv block settings"),
    (lambda s: setattr(s, "conv_blocks", IntRange(1, 9)), "conv_blocks.max", "at most 8"),
    (lambda s: setattr(s, "dense_blocks", IntRange(0, 1)), "dense",
     "up to dense_blocks.max = 1; got 0"),
    (lambda s: setattr(s.training, "optimizers", ["adagrad"]), "training.optimizers",
     "unknown optimizer 'adagrad'; known: adam, sgd, rmsprop, adamw, nadam"),
    (lambda s: setattr(s.training, "optimizers", []), "training.optimizers", "at least one"),
    (lambda s: setattr(s.training, "learning_rate_min", 0.0), "training.learning_rate_min",
     "above 0 and at most 1; got 0.0"),
    (lambda s: setattr(s.training, "learning_rate_max", 2.0), "training.learning_rate_max",
     "got 2.0"),
    (lambda s: setattr(s.training, "learning_rate_min", 0.1), "training.learning_rate_min",
     "learning_rate_min (0.1) is above learning_rate_max (0.001)"),
    (lambda s: setattr(s.training, "batch_sizes", [0, 32]), "training.batch_sizes",
     "at least 1; got 0"),
    (lambda s: setattr(s.training, "batch_sizes", []), "training.batch_sizes", "at least one"),
]


@pytest.mark.parametrize("change, field, words", CASES)
def test_each_problem_is_reported_with_its_field(change, field, words) -> None:
    space = make_space()
    change(space)
    issues = validate(space)
    assert any(f == field and words in m for f, m in issues), issues
    with pytest.raises(SearchSpaceError) as info:
        check(space)
    assert info.value.issues == issues


def test_even_kernel_sizes_and_a_dense_block_are_fine() -> None:
    space = make_space(convs=[conv(kernel_sizes=[2, 4])], denses=[dense()], dense_range=(0, 1))
    assert validate(space) == []


def test_validate_collects_every_problem_at_once() -> None:
    convs = [conv(filters=[], activations=["nope"])]
    space = make_space(convs=convs, train=training(batch_sizes=[]))
    fields = {f for f, _ in validate(space)}
    assert fields == {"conv[0].filters", "conv[0].activations", "training.batch_sizes"}


def test_validate_for_image_warns_when_pooling_would_shrink_below_one_pixel() -> None:
    deep = make_space(conv_range=(1, 5))
    assert validate_for_image(deep, 32) == []
    [(field, message)] = validate_for_image(deep, 16)
    assert field == "conv_blocks.max"
    assert "5 pooling layers" in message and "16x16" in message and "0.5" in message
    no_pool = make_space(convs=[conv(pooling=["none"]) for _ in range(5)], conv_range=(1, 5))
    assert validate_for_image(no_pool, 16) == []
    assert all(validate_for_image(get_preset(name), 32) == [] for name in PRESETS)


# ---------------------------------------------------------------- size


def test_a_single_choice_space_has_one_combination() -> None:
    size = space_size(make_space())
    assert size == SpaceSize(1, False)
    assert size.describe() == "1 combination"


def test_conditional_blocks_are_counted_only_when_they_exist() -> None:
    # block 0: 2 filters x 2 kernels = 4; block 1: 3 filters x tuned bn 2 = 6
    convs = [
        conv(filters=[8, 16], kernel_sizes=[3, 5]),
        conv(filters=[8, 16, 32], batch_norm=Toggle.TUNED),
    ]
    # 1 block: 4; 2 blocks: 4 * 6 = 24 -> 28
    assert space_size(make_space(convs=convs, conv_range=(1, 2))).combinations == 28
    assert space_size(make_space(convs=convs, conv_range=(2, 2))).combinations == 24
    # dense 0..2 with 2 and 3 units: 1 + 2 + 2 * 3 = 9
    denses = [dense(units=[8, 16]), dense(units=[8, 16, 32])]
    space = make_space(convs=convs, conv_range=(1, 2), denses=denses, dense_range=(0, 2))
    assert space_size(space).combinations == 28 * 9


def test_dropout_steps_and_training_choices_multiply() -> None:
    # 0.0..0.5 step 0.1 -> 6 rates; 0.0..0.3 step 0.1 -> 4 (0.3 / 0.1 is 2.999... in floats)
    assert len(DropoutRange(0.0, 0.5, 0.1).values()) == 6
    assert DropoutRange(0.0, 0.3, 0.1).values() == [0.0, 0.1, 0.2, 0.3]
    assert DropoutRange(0.1, 0.45, 0.1).values() == [0.1, 0.2, 0.3, 0.4]
    train = training(optimizers=["adam", "sgd"], batch_sizes=[16, 32, 64], flip=Toggle.TUNED,
                     learning_rate_max=1e-2)
    space = make_space(convs=[conv(dropout=DropoutRange(0.0, 0.5, 0.1))], train=train)
    size = space_size(space)
    assert size == SpaceSize(6 * 2 * 3 * 2, True)
    assert size.describe() == "72 combinations x a continuous learning rate"


def test_describe_uses_thousands_separators() -> None:
    assert SpaceSize(1536, True).describe() == "1,536 combinations x a continuous learning rate"
    assert space_size(get_preset("small")) == SpaceSize(24, True)  # (2 + 4) * 2 * 2


# ---------------------------------------------------------------- presets


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_described(name: str) -> None:
    preset = PRESETS[name]
    assert preset.name == name and preset.title and preset.description
    assert validate(preset.build()) == []


def test_tutorial_preset_reproduces_the_tutorial_family() -> None:
    space = get_preset("tutorial")
    assert space.conv_blocks == IntRange(1, 3) and space.dense_blocks == IntRange(1, 1)
    block = space.conv[2]
    assert (block.filters, block.kernel_sizes, block.activations) == (
        [32, 64, 128], [3, 5], ["relu", "tanh"])
    assert block.batch_norm is Toggle.TUNED and block.pooling == ["max"]
    assert block.dropout == DropoutRange(0.0, 0.5, 0.1)
    assert space.dense[0].units == [64, 128, 256]
    t = space.training
    assert (t.optimizers, t.learning_rate_min, t.learning_rate_max, t.batch_sizes) == (
        ["adam"], 1e-4, 1e-2, [32])


def test_get_preset_returns_a_fresh_copy_and_names_the_known_ones() -> None:
    assert DEFAULT_PRESET == "small" and DEFAULT_PRESET in PRESETS
    first = get_preset("small")
    first.conv[0].filters.append(999)
    assert 999 not in get_preset("small").conv[0].filters
    assert first.conv[0] is not first.conv[1]
    with pytest.raises(SettingsError, match=r"'huge'.*small, tutorial, large, pretrained"):
        get_preset("huge")


def test_space_module_does_not_import_tensorflow() -> None:
    code = (
        "import sys, tuning_core.space.presets as p; p.get_preset('large'); "
        "bad = [m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_a_space_written_before_label_smoothing_and_class_weights_still_opens() -> None:
    """Version 2 had neither: it reads as plain cross-entropy without class weights, while
    a version 3 space must name both."""
    d = make_space().to_dict()
    old = {**d, "schema_version": 2, "training": {k: v for k, v in d["training"].items()
                                                  if k not in ("label_smoothing", "class_weights")}}
    space = SearchSpace.from_dict(old)
    assert space.training.label_smoothing == [0.0] and space.training.class_weights is Toggle.OFF
    assert [f for f, _ in _problems({**old, "schema_version": 3})] == [
        "training.label_smoothing", "training.class_weights"]


def test_label_smoothing_must_lie_in_zero_to_one() -> None:
    space = make_space(train=training(label_smoothing=[0.0, 1.0, 0.1, 0.1]))
    found = dict(validate(space))
    assert "0 up to (not including) 1; got 1.0" in found["training.label_smoothing"] or \
        "duplicate values: 0.1" in found["training.label_smoothing"]
    messages = [m for f, m in validate(space) if f == "training.label_smoothing"]
    assert len(messages) == 2
