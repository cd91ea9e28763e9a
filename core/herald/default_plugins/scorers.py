"""The built-in scoring strategies: ``heuristic`` (rules of thumb, explained) and ``learned`` (the
client's own engagement history). Both live in :mod:`herald.intelligence`."""

from __future__ import annotations

from herald import hookimpl
from herald.captions.heuristic import HeuristicScorer
from herald.intelligence.learned import LearnedScorer


@hookimpl
def register_scorers(register):
    """Provide the ``heuristic`` and ``learned`` scorers."""
    register(HeuristicScorer())
    register(LearnedScorer())
