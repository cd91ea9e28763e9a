"""Secrets in URLs never reach a log line.

A portal link (``/portal/<token>``) and a public media link (``/media/<signed token>/<file>``) are
bearer secrets: whoever reads the token can use it. gunicorn's access log wrote every one in full
(the request line, and the ``Referer`` of the portal's own forms). :class:`RedactSecrets` is a
logging filter that replaces those tokens, and the values of query parameters whose names say they
are secret (``token``, ``access_token``, ``key``, ``signature``, ``password``, ``code``...), with
``[redacted]`` in the finished line. :mod:`herald.logs` puts it on the console handler of every
``herald`` command, and ``herald serve`` on gunicorn's access and error logs.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# The token segment of a portal or public media path (``/api/media/<id>`` is an id, not a secret).
_PATH_SECRET = re.compile(r"(?<!/api)(/(?:portal|media)/)([^/\s?#\"']+)")
# The value of a query parameter named like a secret.
_QUERY_SECRET = re.compile(
    # The secret word is a whole part of the name (``access_token``, ``X-Amz-Signature``), so ``design``
    # or ``encoding`` are left alone.
    r"([?&;](?:[\w.\-]*[_.\-])?(?:token|key|secret|password|passwd|signature|sig|code|auth)(?:[_.\-][\w.\-]*)?=)"
    r"([^&;\s#\"']+)",
    re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the secrets of the URLs in it replaced by ``[redacted]``."""
    text = _PATH_SECRET.sub(lambda match: match.group(1) + REDACTED, text)
    return _QUERY_SECRET.sub(lambda match: match.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """A handler filter that redacts the secrets of URLs in each record's message (see :func:`redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message when it holds a secret; every record is kept."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
