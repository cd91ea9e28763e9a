"""The heuristic scorer: rules of thumb about captions, each worth points, each explained.

Seven parts add up to 100: the opener, the first line (20, the part named ``hook``), length for the
platform (20), a call to action (15), hashtags (15), a question (10), line breaks (10) and readability (10).
"""

from __future__ import annotations

from ..outcomes import Score
from .features import Features, extract

# (ideal low, ideal high, acceptable low, acceptable high) caption length in characters.
# Instagram shows ~125 characters before "more" and rewards captions that carry a story;
# Facebook posts of about 40-250 characters get the most interaction.
LENGTH_SWEET_SPOTS = {
    "instagram": (100, 600, 40, 1500),
    "facebook": (40, 250, 20, 600),
}
DEFAULT_SWEET_SPOT = (80, 600, 30, 1500)
# (ideal low, ideal high, hard maximum) hashtags.
HASHTAG_RANGES = {
    "instagram": (3, 10, 30),
    "facebook": (0, 3, 10),
}
DEFAULT_HASHTAG_RANGE = (1, 5, 15)
OPENER_MAX_CHARS = 125


def _part(name: str, points: float, maximum: int, reason: str, **measured) -> dict:
    return {"part": name, "points": round(points, 1), "max": maximum, "reason": reason, **measured}


def opener_part(f: Features) -> dict:
    """Up to 20 (the part the API calls ``hook``): a first line that exists, fits before "more", and
    hooks the reader (question, number, how-to, claim)."""
    if not f.first_line:
        return _part("hook", 0, 20, "No first line to hook readers: start with a line that stops the scroll.")
    points, notes = 0.0, []
    if len(f.first_line) <= OPENER_MAX_CHARS and len(f.first_line.split()) >= 3:
        points += 10
        notes.append("the first line fits before \"more\"")
    elif len(f.first_line) > OPENER_MAX_CHARS:
        notes.append(f"the first line is {len(f.first_line)} characters, cut off after ~{OPENER_MAX_CHARS}")
    else:
        points += 5
        notes.append("the first line is very short")
    if f.opener_style in ("question", "how_to", "number", "bold_claim"):
        points += 10
        notes.append(f"it is a {f.opener_style.replace('_', '-')} hook")
    else:
        points += 4
        notes.append("it is a plain statement (a question, a number or a bold claim hooks better)")
    return _part("hook", points, 20, "; ".join(notes).capitalize() + ".", hook_style=f.opener_style)


def length_part(f: Features, platforms: tuple[str, ...]) -> dict:
    """Up to 20: caption length inside each target platform's sweet spot (averaged over platforms)."""
    targets = [p for p in platforms if p in LENGTH_SWEET_SPOTS] or [None]
    scores, notes = [], []
    for platform in targets:
        low, high, ok_low, ok_high = LENGTH_SWEET_SPOTS.get(platform, DEFAULT_SWEET_SPOT)
        label = platform or "a general audience"
        if low <= f.length <= high:
            scores.append(20)
            notes.append(f"{f.length} characters is in the {low}-{high} sweet spot for {label}")
        elif ok_low <= f.length <= ok_high:
            scores.append(10)
            notes.append(f"{f.length} characters is outside the {low}-{high} sweet spot for {label}")
        else:
            scores.append(0)
            notes.append(f"{f.length} characters is far from the {low}-{high} sweet spot for {label}")
    return _part("length", sum(scores) / len(scores), 20, "; ".join(notes).capitalize() + ".", length=f.length)


def cta_part(f: Features) -> dict:
    """15 for a call to action."""
    if f.has_cta:
        return _part("call_to_action", 15, 15, f"Has a call to action (\"{f.cta}\").", cta=f.cta)
    return _part("call_to_action", 0, 15, "No call to action: ask readers to comment, save, share or visit.",
                 cta=None)


def question_part(f: Features) -> dict:
    """10 for a question, which invites comments."""
    if f.has_question:
        return _part("question", 10, 10, "Asks a question, which invites comments.")
    return _part("question", 0, 10, "No question: asking one invites comments.")


def hashtag_part(f: Features, platforms: tuple[str, ...]) -> dict:
    """Up to 15: hashtag count inside each target platform's range (averaged over platforms)."""
    count = len(f.hashtags)
    targets = [p for p in platforms if p in HASHTAG_RANGES] or [None]
    scores, notes = [], []
    for platform in targets:
        low, high, maximum = HASHTAG_RANGES.get(platform, DEFAULT_HASHTAG_RANGE)
        label = platform or "a general audience"
        if low <= count <= high:
            scores.append(15)
            notes.append(f"{count} hashtags is in the {low}-{high} range for {label}")
        elif count > maximum:
            scores.append(0)
            notes.append(f"{count} hashtags is over the {maximum} {label} allows or rewards")
        elif count < low:
            scores.append(8 if count else 0)
            notes.append(f"{count} hashtags, fewer than the {low}-{high} that work on {label}")
        else:
            scores.append(6)
            notes.append(f"{count} hashtags, more than the {low}-{high} that work on {label}")
    return _part("hashtags", sum(scores) / len(scores), 15, "; ".join(notes).capitalize() + ".", hashtags=count)


def line_break_part(f: Features) -> dict:
    """Up to 10: a long caption broken into paragraphs; a short one needs none."""
    if f.length <= 150:
        return _part("line_breaks", 10, 10, "Short enough to read without line breaks.", line_breaks=f.line_breaks)
    if f.line_breaks >= 2:
        return _part("line_breaks", 10, 10, f"{f.line_breaks} line breaks keep a {f.length}-character caption "
                     "easy to scan.", line_breaks=f.line_breaks)
    if f.line_breaks == 1:
        return _part("line_breaks", 6, 10, "Only one line break in a long caption: split it into short paragraphs.",
                     line_breaks=1)
    return _part("line_breaks", 2, 10, f"A {f.length}-character block of text: split it into short paragraphs.",
                 line_breaks=0)


def readability_part(f: Features) -> dict:
    """Up to 10: short sentences (<= 20 words) and plain words (<= 5.5 letters on average)."""
    if not f.words:
        return _part("readability", 0, 10, "No words to read.", average_sentence_words=0, average_word_length=0)
    points, notes = 0, []
    if f.average_sentence_words <= 20:
        points += 5
        notes.append(f"sentences average {f.average_sentence_words:g} words")
    else:
        notes.append(f"sentences average {f.average_sentence_words:g} words (aim for 20 or fewer)")
    if f.average_word_length <= 5.5:
        points += 5
        notes.append(f"words average {f.average_word_length:g} letters")
    else:
        notes.append(f"words average {f.average_word_length:g} letters (plainer words read faster)")
    return _part("readability", points, 10, "; ".join(notes).capitalize() + ".",
                 average_sentence_words=f.average_sentence_words, average_word_length=f.average_word_length)


def evaluate(f: Features, platforms: tuple[str, ...] = ()) -> Score:
    """The heuristic :class:`Score` of a caption's features for ``platforms``."""
    parts = [opener_part(f), length_part(f, platforms), cta_part(f), hashtag_part(f, platforms), question_part(f),
             line_break_part(f), readability_part(f)]
    value = sum(part["points"] for part in parts)
    reasons = [f"{part['points']:g}/{part['max']} {part['part'].replace('_', ' ')}: {part['reason']}"
               for part in parts]
    return Score(round(value, 1), reasons, confidence=1.0,
                 details={"parts": parts, "platforms": list(platforms)})


def quick_value(caption: str, platforms) -> float | None:
    """The heuristic value of ``caption`` alone (stored on posts when they are created); None without text."""

    if not (caption or "").strip():
        return None
    return evaluate(extract(caption), tuple(platforms or ())).value


class HeuristicScorer:
    """The built-in ``heuristic`` scorer (registered by :mod:`herald.default_plugins.scorers`)."""

    name = "heuristic"

    def score(self, post, context) -> Score:
        """Score ``post.caption`` by the rules above."""
        return evaluate(post.features, tuple(post.platforms))
