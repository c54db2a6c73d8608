"""course_utils.fmt: the one number formatter and the one table formatter."""
import math

import numpy as np
import pytest
import torch

from course_utils.fmt import format_number, format_table


@pytest.mark.parametrize("value, kwargs, text", [
    (0.6, {}, "0.60"),
    (0.6, dict(decimals=3), "0.600"),
    (2.5, dict(decimals=0), "2"),             # round half to even, like Python's format
    (3, {}, "3"),
    (np.int64(-4), dict(digits=3), "-4"),
    (True, {}, "1"),
    ("b=1", {}, "b=1"),
    (-0.0, {}, "0.00"),
    (-0.001, dict(decimals=2), "0.00"),
    (-0.006, dict(decimals=2), "-0.01"),
    (220.00000000000003, dict(digits=4), "220"),
    (2.2, dict(digits=4), "2.2"),
    (-0.0, dict(digits=4), "0"),
    (1.23456e-5, dict(digits=3), "1.23e-05"),
    (math.nan, {}, "nan"),
    (-math.inf, dict(digits=3), "-inf"),
    (np.float32(0.125), dict(digits=2), "0.12"),
    (torch.tensor(1.5), dict(decimals=1), "1.5"),
    (np.array(2.25), {}, "2.25"),
])
def test_format_number(value, kwargs, text):
    assert format_number(value, **kwargs) == text


def test_format_number_bad_arguments():
    with pytest.raises(ValueError, match="not both"):
        format_number(1.0, 2, digits=3)
    with pytest.raises(TypeError, match="value must be a number or a str, got list"):
        format_number([1.0, 2.0])
    with pytest.raises(ValueError, match="digits must be a positive int, got 0"):
        format_number(1.0, digits=0)
    with pytest.raises(ValueError, match="decimals must be a non-negative int, got -1"):
        format_number(1.0, -1)


def test_format_table_aligns_label_left_and_numbers_right():
    text = format_table([("a", 1.5), ("bbb", 10)], ["path", "s"])
    assert text.splitlines() == [
        "path    s",
        "----  ---",
        "a     1.5",
        "bbb    10",
    ]


def test_format_table_align_max_width_and_digits():
    text = format_table([("x", "a long cell of text", 1 / 3)], ["k", "v", "n"], align="lll", max_width=10, digits=2)
    lines = text.splitlines()
    assert lines[0] == "k  v           n"
    assert lines[2] == "x  a long ...  0.33"
    assert all(line == line.rstrip() for line in lines)


def test_format_table_bad_rows_and_align():
    with pytest.raises(ValueError, match=r"as many cells as headers \(2\); row 0 has 1"):
        format_table([("a",)], ["path", "s"])
    with pytest.raises(ValueError, match="align must be 2 letters"):
        format_table([("a", 1)], ["path", "s"], align="lx")
