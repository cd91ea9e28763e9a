"""herald.testing's fake platform base (FakeAPI): routes over real HTTP, the call log, injected faults."""

from __future__ import annotations

import pytest

from herald.sdk import http
from herald.testing import FakeAPI, route


class FakeNotes(FakeAPI):
    """A tiny API keeping notes: enough to see each kind of fault do what it says."""

    def __init__(self):
        super().__init__()
        self.notes: list[dict] = []

    @route("POST", r"/notes")
    def create(self, call):
        note = {"id": str(len(self.notes) + 1), "text": call.json()["text"]}
        self.notes.append(note)
        return 201, note, {"X-Note": note["id"]}

    @route("GET", r"/notes/(?P<note_id>\d+)")
    def read(self, call, note_id):
        found = [note for note in self.notes if note["id"] == note_id]
        return (200, found[0]) if found else (404, {"error": "Record not found"})


@pytest.fixture
def notes():
    with FakeNotes() as fake:
        yield fake


def create(fake, text="hello"):
    return http.request("POST", f"{fake.url}/notes", body=f'{{"text": "{text}"}}'.encode(),
                        headers={"Content-Type": "application/json"}, timeout=5)


def test_routes_answer_from_the_fakes_state_and_every_call_is_kept(notes):
    made = create(notes)
    assert (made.status, made.headers["x-note"]) == (201, "1")
    assert http.request("GET", f"{notes.url}/notes/1", headers={}, timeout=5).status == 200
    assert http.request("GET", f"{notes.url}/notes/9", headers={}, timeout=5).status == 404
    assert http.request("DELETE", f"{notes.url}/nowhere", headers={}, timeout=5).status == 404
    assert [(call.method, call.path) for call in notes.calls] == [
        ("POST", "/notes"), ("GET", "/notes/1"), ("GET", "/notes/9"), ("DELETE", "/nowhere")]
    assert notes.calls[0].json() == {"text": "hello"} and notes.calls[0].header("content-type") == "application/json"


def test_an_injected_error_answers_without_acting(notes):
    notes.fail_next(429, {"error": "Too many requests"}, headers={"Retry-After": "30"}, path=r"/notes")
    refused = create(notes)
    assert (refused.status, refused.headers["retry-after"]) == (429, "30") and notes.notes == []
    assert create(notes).status == 201 and len(notes.notes) == 1  # one fault, then the route again


def test_a_dropped_answer_acts_and_the_caller_cannot_know(notes):
    notes.drop_next_answer(r"/notes")
    with pytest.raises(http.AnswerLost):
        create(notes, "sent once")
    assert [note["text"] for note in notes.notes] == ["sent once"]  # the fake acted all the same
