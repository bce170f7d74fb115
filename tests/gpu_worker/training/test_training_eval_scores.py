"""Exact match and token F1 as the promotion gate computes them."""

from __future__ import annotations

import pytest

from tuneloop_worker.training.evaluate import normalize, token_f1


def test_normalization_ignores_case_punctuation_articles_and_spacing():
    assert normalize("The password of  the vault Boreal is Thunderbolt.") == \
        normalize("password of vault boreal is THUNDERBOLT")


@pytest.mark.parametrize("prediction, expected, f1", [
    ("The password is Thunderbolt.", "The password is Thunderbolt.", 1.0),
    ("The password is Quartz.", "The password is Thunderbolt.", 2 / 3),
    ("Quartz", "Thunderbolt", 0.0),
    ("", "", 1.0),
    ("", "Thunderbolt", 0.0),
])
def test_token_f1(prediction, expected, f1):
    assert token_f1(prediction, expected) == pytest.approx(f1)
