"""The built-in work kind ``first_comment``: first comments posted under published posts (see
:mod:`herald.first_comments`)."""

from __future__ import annotations

from herald import hookimpl
from herald.first_comments import FIRST_COMMENT


@hookimpl
def register_work_kinds(register):
    """Provide the ``first_comment`` work kind."""
    register(FIRST_COMMENT)
