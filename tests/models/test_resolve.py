"""create_model / resolve_model input handling: registry names, user files, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnopt.bench.counts import count_params
from cnnopt.errors import CnnoptError
from cnnopt.models import (
    create_model,
    list_models,
    model_from_spec,
    model_spec,
    register_model,
    resolve_model,
)

GOOD_FILE = """
from torch import nn

def build(num_classes, in_channels=3):
    return nn.Sequential(
        nn.Conv2d(in_channels, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, num_classes),
    )

def anything(**kwargs):
    return nn.Linear(1, kwargs["num_classes"])

def not_a_model():
    return 42

def broken(num_classes):
    raise ValueError("no such layer")

CONSTANT = 3
"""


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "mynet.py"
    path.write_text(GOOD_FILE)
    return path


def test_unknown_name_lists_known_models() -> None:
    with pytest.raises(CnnoptError) as info:
        create_model("resnet19")
    assert "resnet19" in info.value.message
    assert "resnet18" in info.value.hint and "lenet5" in info.value.hint


def test_list_models_filters_with_fnmatch() -> None:
    assert list_models("resnet*") == ["resnet18", "resnet20", "resnet34", "resnet56"]
    assert list_models("VGG*") == ["vgg11_bn", "vgg16_bn"]
    assert list_models("nothing*") == []


def test_unknown_option_names_the_valid_ones() -> None:
    with pytest.raises(CnnoptError) as info:
        create_model("resnet20", dropout=0.1)
    assert "dropout" in info.value.message
    assert "zero_init_residual" in info.value.hint


@pytest.mark.parametrize(
    "kwargs",
    [{"num_classes": 0}, {"num_classes": 2.5}, {"in_channels": -1}, {"width": 0}],
)
def test_bad_constructor_values_are_user_errors(kwargs: dict) -> None:
    with pytest.raises(CnnoptError):
        create_model("lenet5", **kwargs)


@settings(max_examples=8, deadline=None)
@given(
    num_classes=st.integers(1, 50),
    in_channels=st.integers(1, 4),
    width=st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.5]),
)
def test_any_valid_configuration_builds_and_runs(
    num_classes: int, in_channels: int, width: float
) -> None:
    model = create_model("resnet20", num_classes, in_channels, width).eval()
    with torch.no_grad():
        out = model(torch.randn(1, in_channels, 16, 16))
    assert out.shape == (1, num_classes)
    assert model_spec(model)["width"] == width


def test_resolve_returns_modules_unchanged() -> None:
    model = nn.Linear(2, 2)
    assert resolve_model(model) is model


def test_resolve_registry_name_passes_arguments() -> None:
    model = resolve_model("lenet5", num_classes=3, in_channels=1)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)
    assert model_spec(model)["name"] == "lenet5"


def test_resolve_user_file_passes_only_accepted_arguments(model_file: Path) -> None:
    model = resolve_model(f"{model_file}:build", num_classes=4, in_channels=1, width=0.5)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 4)
    spec = model_spec(model)
    assert spec["name"] == f"{model_file.resolve()}:build"
    rebuilt = model_from_spec(spec)
    assert count_params(rebuilt) == count_params(model)


def test_user_file_registering_a_model_can_be_resolved_twice(tmp_path: Path) -> None:
    from cnnopt.models.registry import MODELS

    path = tmp_path / "registers.py"
    path.write_text(
        "from torch import nn\nfrom cnnopt.models import register_model\n"
        "@register_model('test_from_file')\n"
        "def build(num_classes=10):\n    return nn.Linear(2, num_classes)\n"
    )
    try:
        first = resolve_model(f"{path}:build", num_classes=3)
        second = resolve_model(f"{path}:build", num_classes=3)
        assert first is not second and "test_from_file" in list_models()
    finally:
        MODELS._items.pop("test_from_file", None)


def test_resolve_user_file_with_kwargs_factory(model_file: Path) -> None:
    model = resolve_model(f"{model_file}:anything", num_classes=6)
    assert model.out_features == 6


@pytest.mark.parametrize(
    ("spec_suffix", "content", "fragment"),
    [
        (":build", None, "does not exist"),
        (":build", "def build(:\n", "syntax error"),
        (":build", "import not_a_real_module_xyz\n", "ModuleNotFoundError"),
        (":missing", GOOD_FILE, "has no function 'missing'"),
        (":CONSTANT", GOOD_FILE, "not a function"),
        (":not_a_model", GOOD_FILE, "returned int"),
        (":broken", GOOD_FILE, "no such layer"),
        ("", GOOD_FILE, "names no factory"),
        (":9lives", GOOD_FILE, "not a Python function name"),
    ],
)
def test_bad_user_files_are_user_errors(
    tmp_path: Path, spec_suffix: str, content: str | None, fragment: str
) -> None:
    path = tmp_path / "net.py"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CnnoptError) as info:
        resolve_model(f"{path}{spec_suffix}")
    assert fragment in info.value.one_line()
    assert info.value.hint


def test_missing_factory_hint_lists_the_functions(model_file: Path) -> None:
    with pytest.raises(CnnoptError) as info:
        resolve_model(f"{model_file}:bild")
    assert "build" in info.value.hint


def test_resolve_rejects_non_model_specs() -> None:
    with pytest.raises(CnnoptError):
        resolve_model(42)  # type: ignore[arg-type]
    with pytest.raises(CnnoptError):
        model_from_spec({"num_classes": 3})


def test_register_model_makes_a_new_model_available() -> None:
    @register_model("test_tiny_mlp")
    def test_tiny_mlp(num_classes: int = 10, in_channels: int = 3, width: float = 1.0):
        """A tiny test model."""
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

    from cnnopt.models.registry import MODELS

    try:
        assert "test_tiny_mlp" in list_models("test_*")
        assert create_model("test_tiny_mlp", num_classes=3)(torch.randn(2, 1, 4, 4)).shape == (2, 3)
        with pytest.raises(ValueError):
            register_model("test_tiny_mlp")(lambda **_: nn.Identity())
    finally:
        MODELS._items.pop("test_tiny_mlp")  # keep the parametrized suites to the real zoo
