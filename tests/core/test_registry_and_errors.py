from __future__ import annotations

import pytest

from cnnopt.errors import CnnoptError, check
from cnnopt.registry import Registry


def test_unknown_name_lists_known_and_suggests():
    reg: Registry[int] = Registry("widget")
    reg.add("resnet18", 1)
    reg.add("resnet34", 2)
    with pytest.raises(CnnoptError) as info:
        reg.get("resnet19")
    line = info.value.one_line()
    assert "unknown widget 'resnet19'" in line
    assert "did you mean" in line and "resnet18, resnet34" in line
    assert "\n" not in line


def test_names_are_case_insensitive_and_patterns_work():
    reg: Registry[str] = Registry("thing")
    reg.register("VGG11_bn")("a")
    reg.register("resnet20")("b")
    assert reg.get("vgg11_BN") == "a"
    assert reg.names("res*") == ["resnet20"]
    assert "RESNET20" in reg and len(reg) == 2


def test_double_registration_is_refused():
    reg: Registry[object] = Registry("thing")
    reg.add("x", object())
    with pytest.raises(ValueError):
        reg.add("x", object())


def test_check_raises_with_hint():
    check(True, "never")
    with pytest.raises(CnnoptError) as info:
        check(False, "ratio must be < 1", "use e.g. 0.5")
    assert info.value.one_line() == "ratio must be < 1; use e.g. 0.5"
    assert info.value.exit_code == 2
