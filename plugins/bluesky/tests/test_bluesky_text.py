"""How the plugin measures and annotates text, and the record keys it makes (no server needed)."""

from __future__ import annotations

import datetime as dt

from herald_bluesky import richtext, tid

AT = dt.datetime(2026, 12, 7, 0, 16, 43, 123456, tzinfo=dt.UTC)


def test_graphemes_are_what_people_see():
    assert richtext.graphemes("👩‍👩‍👧‍👦") == 1 and len("👩‍👩‍👧‍👦") == 7
    assert richtext.graphemes("e\u0301") == 1 and richtext.graphemes("🇫🇷🇩🇪") == 2
    assert richtext.too_long("👍🏽" * 300) is None  # 600 code points, 2,400 bytes
    assert "301 characters" in richtext.too_long("a" * 301)
    assert "3,025 bytes" in richtext.too_long("👩‍👩‍👧‍👦" * 121)  # 121 characters of 25 bytes


def test_facet_offsets_count_utf8_bytes_before_them():
    text = "🥐 fresh at https://shop.example/bread!"
    [link] = richtext.facets(text, lambda handle: None)
    assert link["index"] == {"byteStart": 14, "byteEnd": 40}  # the croissant is 4 bytes, 1 character
    assert text.encode()[14:40].decode() == "https://shop.example/bread"  # the "!" is not part of it


def test_a_task_key_is_a_tid_near_its_first_attempt():
    key = tid.for_task("17", AT)
    assert len(key) == 13 and tid.PATTERN.match(key)
    micros = tid.decode(key) >> 10
    assert 0 <= micros - int(AT.timestamp() * 1_000_000) < 1_000_000
    assert tid.for_task("17", AT) == key and tid.for_task("18", AT) != key
    assert tid.decode(tid.following(key)) == tid.decode(key) + 1
    assert tid.encode(0) == "2222222222222"  # the spec's zero
