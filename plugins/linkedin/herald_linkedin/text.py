"""LinkedIn's ``little`` text format, as far as Herald needs it: a caption published as written.

In ``little`` (the Posts API's ``commentary``), ``@[Name](urn)`` is a mention and ``{hashtag|#|tag}`` a
hashtag; every reserved character must be escaped with a backslash, and LinkedIn silently cuts a post
off at the first one that is not (docs/platforms/linkedin.md, "The little format"). Herald escapes all
of them, so the text is shown exactly as the client wrote it.
"""

from __future__ import annotations

import re

RESERVED = "\\|{}@[]()<>#*_~"
MAX_COMMENTARY = 3000
_ESCAPE = re.compile("([" + re.escape(RESERVED) + "])")


def escape(text: str) -> str:
    """``text`` as ``little`` plain text: each reserved character preceded by a backslash."""
    return _ESCAPE.sub(r"\\\1", text)


def unescape(text: str) -> str:
    """``little`` plain text back to what was written (a backslash before a reserved character dropped)."""
    return re.sub(r"\\([" + re.escape(RESERVED) + "])", r"\1", text)


def same_text(first: str | None, second: str | None) -> bool:
    """Whether two texts are the same once whitespace is normalised (LinkedIn may trim or re-wrap)."""
    return " ".join((first or "").split()) == " ".join((second or "").split())
