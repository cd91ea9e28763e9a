"""Scoring a caption with every registered scorer and combining their verdicts.

A scorer (registered through ``register_scorers``) has ``name`` and
``score(post, context) -> Score``. ``post`` is a :class:`ScoringPost`; ``context`` a
:class:`ScoringContext`, which loads the client's engagement history only when a scorer asks
for it. The combined score is the mean of the values weighted by each verdict's confidence.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from typing import Any, ClassVar

from ..capabilities import placeholder
from ..captions import features as feats
from ..db.models import Client, plugin_enabled
from ..errors import ValidationError
from ..outcomes import Score
from . import history, items

log = logging.getLogger("herald.intelligence")


@dataclasses.dataclass(frozen=True)
class ScoringPost:
    """What is scored: a caption with what is known about where it goes."""

    caption: str
    topic: str = ""
    post_type: str = "post"
    platforms: tuple[str, ...] = ()
    client_id: int | None = None
    post_id: int | None = None

    @functools.cached_property
    def features(self) -> feats.Features:
        """The caption's :class:`~herald.captions.features.Features` (computed once)."""
        return feats.extract(self.caption)


@dataclasses.dataclass
class ScoringContext:
    """What a scorer may use besides the post: the workspace, the client and its history."""

    workspace_id: int
    client: Client | None = None
    _history: list[history.PostStats] | None = None
    exclude_post: int | None = None

    def history(self) -> list[history.PostStats]:
        """The client's past posts with engagement (loaded on first use; empty without a client)."""
        if self._history is None:
            self._history = ([] if self.client is None else
                             items.items(self.workspace_id, self.client, exclude_post=self.exclude_post))
        return self._history


class Scorer:
    """Base class of a scoring strategy: subclass it, set ``name``, write ``score``."""

    #: The strategy's name, as ``strategies`` of ``POST /api/intelligence/score`` names it.
    name: ClassVar[str] = ""

    @placeholder
    def score(self, post: ScoringPost, context: ScoringContext) -> Score:
        """The strategy's verdict on ``post`` (required): a :class:`herald.outcomes.Score` with a value
        from 0 to 100, the reasons, and a ``confidence`` (0..1) saying how much it should weigh."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class StrategyResult:
    """One scorer's part in a combined score."""

    name: str
    plugin: str
    score: Score | None
    error: str | None = None

    def as_dict(self, total_confidence: float) -> dict[str, Any]:
        """JSON: value, confidence, its share of the combined score, reasons and details."""
        if self.score is None:
            return {"name": self.name, "plugin": self.plugin, "value": None, "confidence": 0.0, "weight": 0.0,
                    "reasons": [], "details": {}, "error": self.error}
        share = self.score.confidence / total_confidence if total_confidence > 0 else 0.0
        return {"name": self.name, "plugin": self.plugin, "value": round(self.score.value, 1),
                "confidence": round(self.score.confidence, 3), "weight": round(share, 3),
                "reasons": list(self.score.reasons), "details": self.score.details}


@dataclasses.dataclass(frozen=True)
class CombinedScore:
    """The combined value (0..100) and each strategy's part."""

    value: float
    strategies: list[StrategyResult]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape ``POST /api/intelligence/score`` answers with."""
        total = total_confidence(self.strategies)
        return {
            "score": self.value,
            "strategies": [result.as_dict(total) for result in self.strategies],
            "reasons": [f"{result.name}: {reason}" for result in self.strategies if result.score
                        for reason in result.score.reasons],
        }


def total_confidence(results: list[StrategyResult]) -> float:
    """The sum of the confidences of the strategies that answered."""
    return sum(result.score.confidence for result in results if result.score is not None)


def _checked(score: Any, name: str) -> Score:
    if not isinstance(score, Score):
        raise TypeError(f"scorer {name!r} returned {type(score).__name__}, not a herald.Score")
    value = float(score.value)
    confidence = float(score.confidence)
    if math.isnan(value) or math.isnan(confidence):
        raise ValueError(f"scorer {name!r} returned NaN")
    return dataclasses.replace(score, value=min(100.0, max(0.0, value)),
                               confidence=min(1.0, max(0.0, confidence)))


def available(registry, workspace_id: int) -> dict[str, Any]:
    """The scorers usable in the workspace (built-ins, and plugins enabled for it), by name."""
    return {name: registered for name, registered in registry.scorers.items()
            if registry.is_builtin(registered.plugin) or plugin_enabled(workspace_id, registered.plugin)}


def combine(registry, post: ScoringPost, context: ScoringContext, only: list[str] | None = None) -> CombinedScore:
    """Run the workspace's scorers (``only`` these, when given) on ``post`` and combine them.

    A scorer that raises is reported with its error and takes no part; the others still count.
    """
    usable = available(registry, context.workspace_id)
    if only:
        for index, name in enumerate(only):
            if name not in usable:
                raise ValidationError(f"Unknown or disabled scorer {name!r}. Available: "
                                      f"{', '.join(sorted(usable)) or 'none'}.", field=f"scorers.{index}")
        usable = {name: usable[name] for name in only}
    results = []
    for name, registered in usable.items():
        try:
            results.append(StrategyResult(name, registered.plugin, _checked(registered.obj.score(post, context), name)))
        except Exception as exc:  # a broken third-party scorer must not break scoring
            log.exception("scorer %s failed", name)
            results.append(StrategyResult(name, registered.plugin, None, error=f"{type(exc).__name__}: {exc}"))
    answered = [result for result in results if result.score is not None]
    total = total_confidence(answered)
    if not answered:
        value = 0.0
    elif total > 0:
        value = sum(result.score.value * result.score.confidence for result in answered) / total
    else:  # every strategy knows nothing: their plain mean is all there is
        value = sum(result.score.value for result in answered) / len(answered)
    return CombinedScore(round(value, 1), results)
