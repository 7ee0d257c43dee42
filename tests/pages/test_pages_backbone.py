"""AppTest of the Search space page's Backbone section: choices, sizes, weights status."""

from __future__ import annotations

from pathlib import Path

from tests.pages.support import click, new_app, problems
from tests.space.test_backbones import no_network
from tuning_core.data.dataset import ImageConfig
from tuning_core.space.backbones import BACKBONES
from tuning_core.space.presets import get_preset

FILE = BACKBONES["MobileNetV3Small"].file


def _open_space_page():
    at = new_app().run()
    return at.switch_page("pages/space.py").run()


def test_the_backbone_section_shows_sizes_and_missing_weights(clean_caches, monkeypatch,
                                                               tmp_path: Path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    at = _open_space_page()
    assert "Backbone" in [h.value for h in at.subheader]
    assert at.multiselect(key="w:space.backbones").value == ["none"]
    assert not at.info  # no backbone: the conv blocks are not skipped
    at.selectbox(key="w:space.preset").set_value("pretrained")
    click(at, "Apply preset")
    assert not problems(at)
    assert at.multiselect(key="w:space.backbones").value == ["MobileNetV3Small"]
    assert any("0.9M parameters" in c.value and "at least 32 px" in c.value for c in at.caption)
    assert any("every trial here uses one" in i.value for i in at.info)
    [warning] = [w.value for w in at.warning if FILE in w.value]
    assert str(tmp_path / "models") in warning and "or choose weights: none" in warning
    no_network(monkeypatch)
    at.button(key="space_fetch_MobileNetV3Small").click().run()
    assert any("could not be downloaded" in e.value and FILE in e.value for e in at.error)
    assert {m.label: m.value for m in at.metric}["Combinations"].startswith("6 combinations")
    at.radio(key="w:space.weights").set_value("none").run()
    assert not [w for w in at.warning if FILE in w.value]
    assert at.session_state["space.space"].backbone.weights == "none"
    assert at.success[-1].value == "The space is valid."


def test_backbone_problems_appear_under_the_section(clean_caches):
    at = _open_space_page()
    at.session_state["data.image"] = ImageConfig(16, "rgb")
    at.multiselect(key="w:space.backbones").set_value(["none", "ResNet50"]).run()
    at.text_input(key="w:space.trainable_top").set_value("0, ten").run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("backbone.trainable_top: expected whole numbers") for e in errors)
    assert any("ResNet50 needs images of at least 32x32 pixels" in e for e in errors), errors
    assert get_preset("small").backbone.choices == ["none"]
