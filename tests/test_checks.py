"""course_utils.checks: each check returns the value or names the argument, the expectation and the value."""
import numpy as np
import pytest
import torch

from course_utils.checks import as_array, check_int, check_shape, int_list, positive_int, shape_text


def test_check_int_accepts_python_and_numpy_ints():
    assert check_int("n", 3) == 3
    value = check_int("n", np.int64(7), minimum=0, maximum=7)
    assert value == 7 and type(value) is int


@pytest.mark.parametrize("bad", [2.5, "3", True, np.bool_(True), None, [1]])
def test_check_int_refuses_other_types_with_a_type_error(bad):
    with pytest.raises(TypeError, match=r"^threads must be a positive int, got \w+: "):
        check_int("threads", bad, minimum=1)


@pytest.mark.parametrize("kwargs, value, message", [
    (dict(minimum=1), 0, "n must be a positive int, got 0"),
    (dict(minimum=0), -1, "n must be a non-negative int, got -1"),
    (dict(minimum=10), 2, "n must be an int ≥ 10, got 2"),
    (dict(maximum=3), 4, "n must be an int ≤ 3, got 4"),
    (dict(minimum=1, maximum=12), 13, "n must be an int in 1 … 12, got 13"),
])
def test_check_int_range_errors_say_what_was_expected(kwargs, value, message):
    with pytest.raises(ValueError) as err:
        check_int("n", value, **kwargs)
    assert str(err.value) == message


def test_positive_int():
    assert positive_int("batch_size", 64) == 64
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        positive_int("batch_size", 0)


def test_int_list():
    assert int_list("sizes", (784, np.int32(512), 10), min_len=2) == [784, 512, 10]
    assert int_list("sizes", range(1, 3)) == [1, 2]
    with pytest.raises(TypeError, match=r"sizes must be a list of ints such as \[2, 3, 1\], got str"):
        int_list("sizes", "21", example="[2, 3, 1]")
    with pytest.raises(TypeError, match="got int"):
        int_list("sizes", 5)
    with pytest.raises(ValueError, match=r"sizes must hold at least 2 ints, got \[3\]"):
        int_list("sizes", [3], min_len=2)
    with pytest.raises(ValueError, match=r"sizes\[1\] must be a positive int, got 0"):
        int_list("sizes", [3, 0])
    with pytest.raises(TypeError, match=r"sizes\[0\] must be a positive int, got float"):
        int_list("sizes", [2.0, 1])


def test_shape_text():
    assert shape_text((3, 2)) == "(3, 2)"
    assert shape_text((5,)) == "(5,)"
    assert shape_text(("n", None)) == "(n, …)"


def test_check_shape_with_sizes_letters_and_wildcards():
    assert check_shape("X", np.zeros((5, 2)), ("n", 2)) == (5, 2)
    assert check_shape("X", torch.zeros(4, 3, 2), (None, 3, 2)) == (4, 3, 2)
    with pytest.raises(ValueError) as err:
        check_shape("X", np.zeros((5, 3)), ("n", 2), note=" (examples as rows)")
    assert str(err.value) == "X must have shape (n, 2) (examples as rows), got (5, 3)"
    with pytest.raises(ValueError, match=r"must have shape \(n, n\), got \(2, 3\)"):
        check_shape("A", np.zeros((2, 3)), ("n", "n"))
    with pytest.raises(ValueError, match=r"got \(6,\)"):
        check_shape("A", np.zeros(6), (2, 3))
    with pytest.raises(TypeError, match="A must be an array of shape"):
        check_shape("A", [[1, 2]], (1, 2))


def test_as_array():
    a = as_array("w", [[1, 2, 3]], (1, 3))
    assert a.dtype == float and a.shape == (1, 3)
    assert as_array("t", torch.ones(2, requires_grad=True)).tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match=r"w must be an array of numbers of shape \(1, 2\), got list"):
        as_array("w", [["a", "b"]], (1, 2))
    with pytest.raises(ValueError, match=r"w must have shape \(1, 2\) \(out, in\), got \(2, 1\)"):
        as_array("w", np.ones((2, 1)), (1, 2), note=" (out, in)")
