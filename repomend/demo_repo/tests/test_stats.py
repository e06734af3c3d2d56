from statkit.stats import clamp, is_even, mean, variance


def test_mean_of_integers():
    assert mean([1, 2, 3, 4]) == 2.5


def test_mean_of_one_value():
    assert mean([7]) == 7


def test_variance():
    assert variance([2, 4, 4, 4, 5, 5, 7, 9]) == 32 / 7


def test_clamp():
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0
    assert clamp(2, 0, 3) == 2


def test_is_even():
    assert is_even(4)
    assert is_even(0)
    assert not is_even(7)
