"""The built-in work kind ``background``: jobs a request started, polled with ``GET /api/jobs/<id>``
(see :mod:`herald.background`)."""

from __future__ import annotations

from herald import background, hookimpl


@hookimpl
def register_work_kinds(register):
    """Provide the ``background`` work kind."""
    register(background.KIND_OF_WORK)
