"""Descriptive statistics for lists of numbers."""


def mean(xs):
    """Return the arithmetic mean of the numbers in xs."""
    return sum(xs) / len(xs)


def variance(xs):
    """Return the sample variance of the numbers in xs."""
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def clamp(x, low, high):
    """Return x limited to the range [low, high]."""
    return max(low, min(x, high))


def is_even(n):
    """Return True if n is even."""
    return n % 2 == 0
