"""A pass object is its options: every registered pass is a frozen dataclass,
so a run keeps its state in locals and one instance can run any number of
times (as xDSL shapes its passes)."""

import dataclasses

import pytest

from imc.passes import PASSES, get_pass_class


@pytest.mark.parametrize("name", sorted(PASSES))
def test_every_pass_is_a_frozen_dataclass(name):
    cls = get_pass_class(name)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    instance = cls()
    for field in dataclasses.fields(cls):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(instance, field.name, getattr(instance, field.name))
