"""cnnopt.outputs: which of a model's outputs is the prediction, and its one-line errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from cnnopt.errors import CnnoptError
from cnnopt.outputs import (
    OutputSpec,
    describe_output,
    flatten_outputs,
    output_position,
    output_spec,
    select_output,
    set_output,
    validate_output,
)

A, B, C = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 3), 2.0)


class DictNoLogits(nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = x.flatten(1)[:, :4]
        return {"main": z, "aux": -z}


def test_default_rule_first_of_tuple_logits_of_dict() -> None:
    assert select_output((A, B)) is A
    assert select_output([B, A]) is B
    assert select_output({"aux": A, "logits": B}) is B  # the key, not the position
    assert select_output(C) is C


def test_explicit_choice_by_index_key_and_negative_index() -> None:
    assert select_output((A, B, C), 1) is B
    assert select_output((A, B, C), -1) is C
    assert select_output({"logits": A, "aux": B}, "aux") is B
    assert select_output({"logits": A, "aux": B}, 1) is B  # the dict's keys in order


def test_a_dict_without_logits_needs_a_choice_and_the_error_names_the_keys() -> None:
    with pytest.raises(CnnoptError) as info:
        select_output({"main": A, "aux": B})
    assert "main, aux" in str(info.value) and "--output" in str(info.value)
    assert select_output({"main": A, "aux": B}, "main") is A


@pytest.mark.parametrize(
    ("raw", "choice", "words"),
    [
        ((A, B), 2, ["--output 2", "2 output(s)", "output_0, output_1"]),
        ({"logits": A, "aux": B}, "feat", ["'feat'", "logits, aux"]),
        ((A, B), "aux", ["'aux'", "output_0, output_1"]),
    ],
)
def test_a_missing_choice_is_one_clear_line(raw, choice, words) -> None:
    with pytest.raises(CnnoptError) as info:
        select_output(raw, choice)
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words)


def test_parse_reads_digits_as_indices_and_other_text_as_keys() -> None:
    assert OutputSpec.parse("1") == OutputSpec(1)
    assert OutputSpec.parse("-1") == OutputSpec(-1)
    assert OutputSpec.parse("aux") == OutputSpec("aux")
    assert OutputSpec.parse(None).is_default and OutputSpec.parse("").is_default
    with pytest.raises(CnnoptError):
        OutputSpec.parse(1.5)  # type: ignore[arg-type]


def test_the_choice_travels_with_copies_but_not_into_the_state_dict() -> None:
    import copy
    import pickle

    model = nn.Linear(3, 3)
    keys = list(model.state_dict())
    set_output(model, "aux")
    assert output_spec(copy.deepcopy(model)) == OutputSpec("aux")
    # the search's spawned workers get the model pickled
    assert output_spec(pickle.loads(pickle.dumps(model))) == OutputSpec("aux")
    assert list(model.state_dict()) == keys
    set_output(model, None)
    assert output_spec(model).is_default


def test_validate_output_runs_the_model_once_and_refuses_bad_choices() -> None:
    model = DictNoLogits()
    x = torch.randn(2, 1, 4, 4)
    with pytest.raises(CnnoptError, match="main, aux"):
        validate_output(model, x)
    assert validate_output(model, x, "aux") == "aux (dict key)"
    assert output_spec(model) == OutputSpec("aux")
    with pytest.raises(CnnoptError, match="single tensor"):
        validate_output(nn.Flatten(), x, "aux")
    with pytest.raises(CnnoptError, match=r"\(batch, classes\)"):
        validate_output(nn.Identity(), x)  # a 4-D output is no logits


def test_describe_names_the_chosen_output() -> None:
    assert describe_output((A, B)) == "output 0 of 2 (tuple)"
    assert describe_output({"logits": A, "aux": B}, "aux") == "aux (dict key)"
    assert describe_output(A) == "logits (single output)"


def test_nested_or_non_tensor_outputs_are_refused_plainly() -> None:
    with pytest.raises(CnnoptError, match="not a tensor"):
        flatten_outputs((A, (B, C)))
    with pytest.raises(CnnoptError, match="returned NoneType"):
        flatten_outputs(None)


names = st.lists(st.text("abcdefgh_", min_size=1, max_size=6), min_size=1, max_size=5, unique=True)


@given(keys=names, data=st.data())
def test_a_file_and_its_model_pick_the_same_output(keys, data) -> None:
    """The ONNX file's output names (flatten_outputs order) lead `output_position` to the
    tensor `select_output` picks from the model's dict or tuple, for any valid choice."""
    tensors = [torch.full((1, 2), float(i)) for i in range(len(keys))]
    for raw in (dict(zip(keys, tensors, strict=True)), tuple(tensors)):
        file_names, _ = flatten_outputs(raw)
        choices = [None, *range(len(keys)), *(keys if isinstance(raw, dict) else [])]
        choice = data.draw(st.sampled_from(choices))
        try:
            picked = select_output(raw, choice)
        except CnnoptError:  # a dict without "logits" and no choice: the file refuses too
            assert isinstance(raw, dict) and choice is None and len(keys) > 1
            with pytest.raises(CnnoptError):
                output_position(file_names, choice)
            continue
        assert picked is tensors[output_position(file_names, choice)]
