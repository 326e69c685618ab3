"""How expected trait values compare with computed ones."""

from __future__ import annotations

import pytest

from engagectl.testing.expectations import values_match


@pytest.mark.parametrize(("expected", "actual", "match"), [
    (420.5, 420.5, True),
    (420.5, 420.50000000001, True),       # engines may round a sum differently
    (420.5, 420.6, False),
    (3, 3.0, True),
    ({"approx": 420.5, "tolerance": 0.01}, 420.509, True),
    ({"approx": 420.5, "tolerance": 0.01}, 420.52, False),
    ({"approx": 420.5}, "420.5", False),   # a string is not a number
    ("pro", "pro", True),
    ("pro", "Pro", False),
    (True, True, True),
    (True, 1, False),                      # booleans are not numbers
    (None, None, True),
    (None, 0, False),
    (0, None, False),
    (["a", "b"], ["a", "b"], True),
    (["a", "b"], ["b", "a"], False),       # unique lists are sorted: order is part of the value
    ({"open_tickets": 2}, {"open_tickets": 2.0}, True),
])
def test_values_match(expected, actual, match):
    assert values_match(expected, actual) is match
