"""Mixed precision: the model's outputs stay float32, and the global policy is put back."""

from __future__ import annotations


def test_a_mixed_precision_model_outputs_float32_and_the_policy_is_put_back() -> None:
    import keras
    import keras_tuner as kt

    from tuning_core.search.hypermodel import CNNHyperModel
    from tuning_core.search.precision import MIXED, Precision, training_policy
    from tuning_core.space.presets import get_preset

    with training_policy(Precision(MIXED)):
        assert keras.mixed_precision.global_policy().name == MIXED
        model = CNNHyperModel(get_preset("small"), 16, 3, 2).build(kt.HyperParameters())
    assert keras.mixed_precision.global_policy().name == "float32"
    assert model.get_layer("classes").dtype_policy.name == "float32"
    assert model.outputs[0].dtype == "float32"
    assert any(layer.compute_dtype == "float16" for layer in model.layers)
