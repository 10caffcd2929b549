"""The backend's questions about methods are answered by the catalog's flags; the named baselines exist."""

from __future__ import annotations

from backend.vocabulary import (
    BASELINE_METHOD,
    KD_REFERENCE_METHOD,
    generator_methods,
    method_info,
    trains_generator,
    transfer_set,
)
from xclab.catalog import METHODS


def test_answers_follow_the_catalog_flags() -> None:
    for name, info in METHODS.items():
        assert trains_generator(name) is info.trains_generator
        assert transfer_set(name) == info.transfer_set
    assert generator_methods() == [name for name, info in METHODS.items() if info.trains_generator]
    assert generator_methods()  # XCL-GAN students need at least one way to train a generator


def test_a_method_the_catalog_no_longer_lists_has_no_capabilities() -> None:
    assert method_info("retired-method") is None
    assert trains_generator("retired-method") is False and transfer_set("retired-method") is None


def test_the_baselines_are_catalog_methods_of_the_right_kind() -> None:
    assert not METHODS[BASELINE_METHOD].needs_teachers  # gain over a plain student
    assert METHODS[KD_REFERENCE_METHOD].needs_teachers  # gap reduction relative to distillation
    assert METHODS[KD_REFERENCE_METHOD].transfer_set == "original"
