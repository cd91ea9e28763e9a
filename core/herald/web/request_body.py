"""A request body the server cannot read is the client's error: 400 ``bad_request``, never a 500.

The WSGI server parses the body while the application reads it. A malformed chunked body (a chunk
size that is not hexadecimal, a chunk without its CRLF) or a client that goes away in the middle
makes that read raise the server's own exception (gunicorn's ``InvalidChunkSize``, ``NoMoreData``,
a socket error), which would otherwise reach the application's catch-all as an unexpected error,
with a traceback in the log and a 500 to the client. And a body that ends before its
``Content-Length`` (the client closed the connection early) reads as a shorter body without any
error from gunicorn: a CSV cut at a line end would be imported in part, and the client, which saw
no answer, would send it all again. :func:`guard_request_bodies` wraps ``wsgi.input`` so that both
are an :class:`UnreadableBody` wherever the body is read (JSON, forms, uploads, CSV), answered in
the error envelope before anything is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.exceptions import BadRequest, HTTPException

CODE = "bad_request"


class UnreadableBody(BadRequest):
    """400: the server could not read the request body (malformed framing, client gone)."""

    def __init__(self, reason: str):
        super().__init__(f"The request body could not be read ({reason}). Send it again, whole: with a "
                         "Content-Length, or as well-formed chunks.")


class GuardedInput:
    """``wsgi.input`` whose read failures, and an end before ``expected`` bytes (the request's
    ``Content-Length``, None when it has none), raise :class:`UnreadableBody`.

    It has PEP 3333's four reading methods and nothing else, so no reader can go around it (werkzeug
    uses ``readinto`` where the stream has one).
    """

    def __init__(self, stream: Any, expected: int | None):
        self._stream = stream
        self._expected = expected
        self._received = 0

    def read(self, size: int | None = -1) -> bytes:
        """Read from the server's stream, as ``wsgi.input.read``."""
        data = self._guarded(self._stream.read, *(() if size is None else (size,)))
        self._count(len(data), everything=size is None or size < 0, ended=not data and size != 0)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """Read a line from the server's stream, as ``wsgi.input.readline``."""
        line = self._guarded(self._stream.readline, *(() if size is None else (size,)))
        self._count(len(line), everything=False, ended=not line and size != 0)
        return line

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read the lines of the server's stream, as ``wsgi.input.readlines``."""
        lines = self._guarded(self._stream.readlines, *(() if hint is None else (hint,)))
        self._count(sum(map(len, lines)), everything=hint is None or hint <= 0, ended=not lines)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _count(self, size: int, *, everything: bool, ended: bool) -> None:
        self._received += size
        if self._expected is not None and self._received < self._expected and (everything or ended):
            raise UnreadableBody(f"it ended after {self._received} of the {self._expected} bytes its "
                                 "Content-Length announced")

    @staticmethod
    def _guarded(read: Callable, *args: Any) -> Any:
        try:
            return read(*args)
        except (HTTPException, MemoryError):
            raise
        except Exception as exc:  # whatever the server raises: its parsers' errors are its own classes
            raise UnreadableBody(_reason(exc)) from exc


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text[:200]}" if text else name


def _content_length(environ: dict) -> int | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


def guard_request_bodies(wsgi_app: Callable) -> Callable:
    """Wrap ``wsgi_app`` so that every request's ``wsgi.input`` is a :class:`GuardedInput`."""

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        stream = environ.get("wsgi.input")
        if stream is not None:
            environ["wsgi.input"] = GuardedInput(stream, _content_length(environ))
        return wsgi_app(environ, start_response)

    return guarded
