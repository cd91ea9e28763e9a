"""Analyses kept up to date one post at a time.

A tally holds what an analysis needs of a client's posts (counts, exact sums of rates from
:mod:`herald.intelligence.exact`, posts kept in an order where an answer needs one) so that when a post
changes, its old version is taken out and its new one put in, and the answer is made from the tally
without going through every post again (:mod:`herald.intelligence.items` tells the tallies it holds which
posts left and came in). A tally made from posts and one kept up to date through changes answer the same.
"""

from __future__ import annotations

from typing import Any


class Tally:
    """The base of the tallies: :meth:`of` counts each post in, :meth:`add` and :meth:`remove` count one
    in or out through :meth:`count` (``sign`` 1 or -1), :meth:`result` answers for the posts counted."""

    @classmethod
    def of(cls, items) -> Tally:
        """The tally of ``items``."""
        tally = cls()
        for item in items:
            tally.count(item, 1)
        return tally

    def add(self, item) -> None:
        """Count ``item`` in."""
        self.count(item, 1)

    def remove(self, item) -> None:
        """Take ``item`` (as it was counted in) out."""
        self.count(item, -1)

    def count(self, item, sign: int) -> None:
        """Count ``item`` in (``sign`` 1) or out (-1)."""
        raise NotImplementedError

    def result(self, client, items) -> Any:
        """The analysis of ``items``, the posts this tally counted (in their order), for ``client``."""
        raise NotImplementedError
