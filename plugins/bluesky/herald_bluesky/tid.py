"""Record keys of Herald's own choosing: TIDs (https://atproto.com/specs/tid).

A TID is a 64-bit integer (top bit 0, 53 bits of microseconds since the epoch, a 10-bit clock id)
written as 13 characters of base32-sortable. Herald derives one per publish task, from the time of its
first attempt and the task's id, and saves it before the first ``createRecord``: a PDS keeps at most
one record per key, so every retry of the task creates the same record or none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
PATTERN = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def encode(value: int) -> str:
    """The 13-character form of a TID's integer."""
    return "".join(ALPHABET[(value >> (5 * index)) & 31] for index in reversed(range(13)))


def decode(text: str) -> int:
    """The integer of a TID (raises ValueError for anything else)."""
    if not PATTERN.match(text):
        raise ValueError(f"{text!r} is not a TID")
    value = 0
    for char in text:
        value = (value << 5) | ALPHABET.index(char)
    return value


def for_task(task_id: str, at: dt.datetime) -> str:
    """The TID of a task's post: ``at`` plus up to a second taken from the task's id, and a clock id from
    it too, so that two tasks started in the same microsecond on one account get different keys."""
    digest = int.from_bytes(hashlib.sha256(f"herald-bluesky-{task_id}".encode()).digest()[:8], "big")
    micros = int(at.timestamp() * 1_000_000) + digest % 1_000_000
    return encode(((micros & ((1 << 53) - 1)) << 10) | (digest >> 20) % 1024)


def following(key: str) -> str:
    """The TID right after ``key`` (the first comment's key, derived from its post's)."""
    return encode(decode(key) + 1)
