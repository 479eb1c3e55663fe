"""The README's Python example, on the always-available digits set: a user's own nn.Module is
trained, evaluated and benchmarked through the top-level API alone."""

from __future__ import annotations

import importlib
import inspect

from torch import nn

import cnnopt


def test_readme_example_trains_and_benchmarks_a_user_module():
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, 10),
    )  # fmt: skip
    train_set, val_set = (
        cnnopt.load_dataset("digits", "train"),
        cnnopt.load_dataset("digits", "val"),
    )
    config = cnnopt.TrainConfig(epochs=10, batch_size=64, progress=False)
    result = cnnopt.train(model, (train_set, val_set), config)
    accuracy = cnnopt.evaluate(result.model, cnnopt.load_dataset("digits", "test")).accuracy
    bench = cnnopt.benchmark(result.model, (1, 16, 16), batch_sizes=(1,), max_seconds=0.2)
    assert accuracy > 0.5
    record = bench.records[0]
    assert record.latency_ms_p50 > 0 and record.params == sum(p.numel() for p in model.parameters())


def test_public_names_resolve():
    for name in cnnopt.__all__:
        assert getattr(cnnopt, name) is not None
    assert callable(cnnopt.train) and callable(cnnopt.evaluate) and callable(cnnopt.optimize)


def test_train_and_evaluate_are_plain_functions_with_real_signatures():
    """help() and IDEs show the arguments, not a callable module's (*args, **kwargs)."""
    for function, first in ((cnnopt.train, "model"), (cnnopt.evaluate, "model_or_predictor")):
        assert inspect.isfunction(function)
        assert next(iter(inspect.signature(function).parameters)) == first
    importlib.import_module("cnnopt.training")  # importing them must not replace the function
    importlib.import_module("cnnopt.evaluation")
    assert inspect.isfunction(cnnopt.train) and inspect.isfunction(cnnopt.evaluate)


def test_every_registered_transform_config_is_a_top_level_name():
    """Like torchao's configs beside quantize_: a new transform must be exported too."""
    from cnnopt.transforms import config_class

    for name in cnnopt.list_transforms():
        config = config_class(name)
        if not config.__module__.startswith("cnnopt."):
            continue  # registered by a test (tests/core/test_transform_base.py), not built in
        assert config.__name__ in cnnopt.__all__, f"cnnopt does not export {config.__name__}"
        assert getattr(cnnopt, config.__name__) is config


def test_the_nouns_and_registries_are_top_level():
    for noun in ("Recipe", "Context", "TrainConfig", "LoweringTarget", "Target", "Constraints",
                 "Budget", "SearchSpace", "RobustnessSettings", "AttackConfig"):  # fmt: skip
        assert noun in cnnopt.__all__ and isinstance(getattr(cnnopt, noun), type), noun
    assert {"eager", "onnxruntime", "openvino"} <= set(cnnopt.list_runtimes())
    assert {"fuse", "prune", "quantize"} <= set(cnnopt.list_transforms())
    assert set(cnnopt.__all__) <= set(dir(cnnopt))
