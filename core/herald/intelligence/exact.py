"""Exact sums of floats that can be added to and taken from: what lets a tally of a client's posts
follow one changed post instead of adding everything up again, and still answer what ``math.fsum``
(and so ``statistics.fmean``) answers over the values there are.

A float is a whole multiple of 2**-1074 (the smallest subnormal), so ``value * 2**1074`` is an exact
integer: sums of those integers are exact whatever the order, and dividing the sum by 2**1074 with
Python's correctly rounded integer division gives the correctly rounded sum, as ``math.fsum`` does.
"""

from __future__ import annotations

_BITS = 1074
_ONE = 1 << _BITS


def scaled(value: float) -> int:
    """``value * 2**1074`` exactly (a finite float)."""
    numerator, denominator = value.as_integer_ratio()
    return numerator << (_BITS - denominator.bit_length() + 1)


def total(scaled_sum: int) -> float:
    """The correctly rounded float of a sum of :func:`scaled` values (``math.fsum`` of the values)."""
    return scaled_sum / _ONE


def mean(scaled_sum: int, count: int) -> float:
    """``statistics.fmean`` of ``count`` values whose :func:`scaled` sum is ``scaled_sum`` (count > 0)."""
    return total(scaled_sum) / count


def bump(groups: dict, key, rate: int, sign: int) -> None:
    """Add (``sign`` 1) or take (-1) one post with the exact rate ``rate`` to the ``[count, sum]`` of ``key``."""
    group = groups.get(key)
    if group is None:
        groups[key] = [sign, sign * rate]
        return
    group[0] += sign
    group[1] += sign * rate
    if not group[0]:
        del groups[key]
