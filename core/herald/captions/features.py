"""What a caption is made of: its opener (first line) and opener style, length, call to action,
questions, hashtags, line breaks and readability. Pure functions of the text."""

from __future__ import annotations

import dataclasses
import re

HASHTAG = re.compile(r"(?<![\w#])#(\w{1,100})", re.UNICODE)
MENTION = re.compile(r"(?<![\w@])@([\w.]{1,30})", re.UNICODE)
WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
SENTENCE_END = re.compile(r"[.!?…]+(?:\s|$)|\n+")
NUMBER_START = re.compile(r"^\W*(\d+|one|two|three|four|five|six|seven|eight|nine|ten|top \d+)\b", re.IGNORECASE)
# Phrases that ask the reader to do something; matched on word boundaries, case-insensitively.
CTA_PHRASES = (
    "link in bio", "link in our bio", "click the link", "tap the link", "comment below", "comment", "tell us",
    "let us know", "let me know", "save this", "save it", "save for later", "share this", "share with",
    "tag a friend", "tag someone", "tag your", "dm us", "dm me", "send us", "message us", "follow us",
    "follow for", "sign up", "register", "subscribe", "shop now", "shop the", "order now", "order yours",
    "book now", "book your", "buy now", "get yours", "learn more", "read more", "swipe", "visit", "join us",
    "try it", "download", "call us", "reserve",
)
CTA = re.compile(r"\b(" + "|".join(re.escape(p) for p in CTA_PHRASES) + r")\b", re.IGNORECASE)
QUESTION_WORDS = ("why", "how", "what", "who", "when", "where", "which", "do", "does", "did", "is", "are",
                  "can", "could", "should", "would", "will", "have", "has", "ever")
HOW_TO = re.compile(r"\b(how to|how i|how we|guide|tips?|ways to|steps? to|tutorial|recipe)\b", re.IGNORECASE)
BOLD_WORDS = re.compile(r"\b(never|always|best|worst|stop|nobody|no one|everyone|secret|truth|mistakes?|"
                        r"myth|only|must|ultimate|biggest|guaranteed|forget|don'?t)\b", re.IGNORECASE)
EMOJI = re.compile("[\U0001F300-\U0001FAFF\U00002600-\U000027BF\U0001F1E6-\U0001F1FF]")
_STOPWORDS_TEXT = """
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves this that's it's
we're you're i'm don't can't won't let's also get got every make made one new today here's there's
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

OPENER_STYLES = ("question", "how_to", "number", "bold_claim", "statement", "none")
LENGTH_BUCKETS = ("short", "medium", "long", "very_long")  # < 100, < 300, < 1000, the rest (characters)
HASHTAG_BUCKETS = ("none", "1-3", "4-10", "11+")


@dataclasses.dataclass(frozen=True)
class Features:
    """The measurable parts of one caption."""

    first_line: str
    opener_style: str  # shown as hook_style, the API's word
    length: int
    words: int
    line_breaks: int
    paragraphs: int
    hashtags: tuple[str, ...]
    mentions: int
    emojis: int
    exclamations: int
    has_question: bool
    cta: str | None
    sentences: int
    average_sentence_words: float
    average_word_length: float
    second_person: bool

    @property
    def has_cta(self) -> bool:
        """Whether the caption asks the reader to do something."""
        return self.cta is not None

    @property
    def length_bucket(self) -> str:
        """``short`` (< 100 characters), ``medium`` (< 300), ``long`` (< 1,000) or ``very_long``."""
        return length_bucket(self.length)

    @property
    def hashtag_bucket(self) -> str:
        """``none``, ``1-3``, ``4-10`` or ``11+`` hashtags."""
        count = len(self.hashtags)
        if count == 0:
            return "none"
        if count <= 3:
            return "1-3"
        return "4-10" if count <= 10 else "11+"

    def as_dict(self) -> dict:
        """The features as JSON-ready data."""
        data = {("hook_style" if name == "opener_style" else name): value
                for name, value in dataclasses.asdict(self).items()}
        data["hashtags"] = list(self.hashtags)
        data.update(has_cta=self.has_cta, length_bucket=self.length_bucket, hashtag_bucket=self.hashtag_bucket)
        return data


def length_bucket(length: int) -> str:
    """The length bucket of a caption of ``length`` characters."""
    if length < 100:
        return "short"
    if length < 300:
        return "medium"
    return "long" if length < 1000 else "very_long"


def first_line(caption: str) -> str:
    """The first non-empty line of ``caption``, stripped (the opener readers see before "more")."""
    for line in (caption or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def opener_style(line: str) -> str:
    """What kind of opener ``line`` is: question, how_to, number, bold_claim, statement (or none)."""
    text = line.strip()
    if not text:
        return "none"
    first_word = (WORD.findall(text.lower()) or [""])[0]
    if text.rstrip(" \"'”)").endswith("?") or (first_word in QUESTION_WORDS and "?" in text):
        return "question"
    if HOW_TO.search(text):
        return "how_to"
    if NUMBER_START.search(text):
        return "number"
    if BOLD_WORDS.search(text) or text.endswith("!"):
        return "bold_claim"
    return "statement"


def significant_words(text: str) -> list[str]:
    """Lower-case words of four letters or more that are not stop words (hashtags excluded)."""
    without_tags = HASHTAG.sub(" ", text or "")
    return [word for word in (w.lower().strip("'’-") for w in WORD.findall(without_tags))
            if len(word) >= 4 and word not in STOPWORDS]


def extract(caption: str) -> Features:
    """The :class:`Features` of ``caption``."""
    text = caption or ""
    opener = first_line(text)
    words = WORD.findall(HASHTAG.sub(" ", text))
    sentences = [part for part in SENTENCE_END.split(HASHTAG.sub(" ", text)) if WORD.search(part or "")]
    cta = CTA.search(text)
    stripped = text.strip()
    return Features(
        first_line=opener,
        opener_style=opener_style(opener),
        length=len(stripped),
        words=len(words),
        line_breaks=stripped.count("\n"),
        paragraphs=len([block for block in re.split(r"\n\s*\n", stripped) if block.strip()]),
        hashtags=tuple(dict.fromkeys(tag.lower() for tag in HASHTAG.findall(text))),
        mentions=len(MENTION.findall(text)),
        emojis=len(EMOJI.findall(text)),
        exclamations=text.count("!"),
        has_question="?" in text,
        cta=cta.group(1).lower() if cta else None,
        sentences=len(sentences),
        average_sentence_words=round(len(words) / len(sentences), 2) if sentences else 0.0,
        average_word_length=round(sum(len(w) for w in words) / len(words), 2) if words else 0.0,
        second_person=bool(re.search(r"\b(you|your|you're|yours)\b", text, re.IGNORECASE)),
    )
