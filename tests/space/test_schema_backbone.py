"""The backbone part of the search space: JSON (old files too), validation, size, preset."""

from __future__ import annotations

import json

import pytest

from tests.space.test_schema import conv, make_space
from tuning_core.core.errors import SearchSpaceError
from tuning_core.space.backbones import BACKBONES
from tuning_core.space.presets import get_preset
from tuning_core.space.schema import (
    BackboneSpace,
    SearchSpace,
    backbone_issues_for_image,
    check_for_image,
    validate,
    validate_for_image,
)
from tuning_core.space.size import SpaceSize, space_size


def with_backbone(**changes: object) -> SearchSpace:
    space = make_space()
    space.backbone = BackboneSpace(**{"choices": ["MobileNetV3Small"], "weights": "none",
                                      **changes})  # type: ignore[arg-type]
    return space


def test_a_backbone_round_trips_through_json() -> None:
    space = with_backbone(choices=["none", "ResNet50"], trainable_top=[0, 10],
                          learning_rate_min=1e-5, learning_rate_max=1e-4)
    d = json.loads(space.to_json())
    assert d["schema_version"] == 3
    assert d["backbone"] == {"choices": ["none", "ResNet50"], "weights": "none",
                             "trainable_top": [0, 10], "learning_rate_min": 1e-5,
                             "learning_rate_max": 1e-4}
    assert SearchSpace.from_json(space.to_json()) == space


@pytest.mark.parametrize("version", [1, 2])
def test_a_space_without_the_backbone_field_means_no_backbone(version: int) -> None:
    d = make_space().to_dict()
    del d["backbone"]
    d["schema_version"] = version
    space = SearchSpace.from_dict(d)
    assert space.backbone == BackboneSpace() and space.backbone.choices == ["none"]
    assert not space.backbone.active and validate(space) == []


def test_backbone_fields_of_the_wrong_type_are_named() -> None:
    d = with_backbone().to_dict()
    d["backbone"]["trainable_top"] = ["20"]
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_dict(d)
    assert info.value.issues[0][0] == "backbone.trainable_top[0]"


CASES = [
    (dict(choices=["MobileNetV4"]), "backbone.choices",
     "unknown backbone 'MobileNetV4'; known: none, MobileNetV3Small, MobileNetV3Large"),
    (dict(choices=[]), "backbone.choices", "at least one value"),
    (dict(choices=["ResNet50", "ResNet50"]), "backbone.choices", "duplicate values: ResNet50"),
    (dict(weights="cifar"), "backbone.weights", "expected one of imagenet, none; got 'cifar'"),
    (dict(trainable_top=[-1]), "backbone.trainable_top", "0 (frozen) or more; got -1"),
    (dict(trainable_top=[]), "backbone.trainable_top", "at least one value"),
    (dict(learning_rate_min=0.0), "backbone.learning_rate_min", "above 0 and at most 1"),
    (dict(learning_rate_min=1e-2, learning_rate_max=1e-3), "backbone.learning_rate_min",
     "learning_rate_min (0.01) is above learning_rate_max (0.001)"),
]


@pytest.mark.parametrize("changes, field, words", CASES)
def test_each_backbone_problem_is_reported_with_its_field(changes, field, words) -> None:
    issues = validate(with_backbone(**changes))
    assert any(f == field and words in m for f, m in issues), issues


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_each_backbone_names_its_minimum_image_size(name: str) -> None:
    space = with_backbone(choices=["none", name])
    assert backbone_issues_for_image(space, 32) == []
    [(field, message)] = backbone_issues_for_image(space, 16)
    assert field == "backbone.choices"
    assert message == f"{name} needs images of at least 32x32 pixels; the image size is 16"
    with pytest.raises(SearchSpaceError, match=name):
        check_for_image(space, 16)
    assert backbone_issues_for_image(make_space(), 8) == []  # no backbone: no minimum


def test_pooling_warnings_only_when_some_trial_builds_conv_blocks() -> None:
    deep = make_space(conv_range=(1, 5))
    deep.backbone = BackboneSpace(choices=["MobileNetV3Small"])
    assert validate_for_image(deep, 16) == []
    deep.backbone.choices = ["none", "MobileNetV3Small"]
    assert len(validate_for_image(deep, 16)) == 1


def test_each_backbone_counts_once_per_trainable_top_choice_instead_of_the_conv_blocks() -> None:
    convs = [conv(filters=[8, 16]), conv(filters=[8, 16, 32])]  # 2 + 2 * 3 = 8 stacks
    space = make_space(convs=convs, conv_range=(1, 2))
    assert space_size(space) == SpaceSize(8, False)
    space.backbone = BackboneSpace(choices=["none", "MobileNetV3Small", "ResNet50"],
                                   trainable_top=[0, 20, 40], learning_rate_min=1e-4,
                                   learning_rate_max=1e-4)
    assert space_size(space) == SpaceSize(8 + 2 * 3, False)
    space.backbone.choices = ["ResNet50"]  # no conv stacks at all
    assert space_size(space) == SpaceSize(3, False)
    space.backbone.learning_rate_min = 1e-5  # the fine-tune range is continuous
    assert space_size(space) == SpaceSize(3, True)


def test_the_pretrained_preset() -> None:
    space = get_preset("pretrained")
    b = space.backbone
    assert (b.choices, b.weights, b.trainable_top) == (["MobileNetV3Small"], "imagenet", [0, 20])
    assert validate(space) == [] and b.active
    # 2 trainable-top choices x dense 0 or 1 block (1 + 2 dropout rates) x batch 32
    assert space_size(space) == SpaceSize(2 * 3, True)
