"""Typed results that plugins return to the core.

Plugins import these from ``herald.outcomes``; the core never guesses at dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal


@dataclasses.dataclass(frozen=True)
class PublishOutcome:
    """What a platform's ``publish`` or ``check`` call came to.

    ``kind`` is one of:

    - ``published``: done; ``platform_post_id`` (and ``url`` when known) say where.
    - ``pending``: the platform is still working (a media container); check again after
      ``retry_after`` seconds. ``state`` carries what the next ``check`` needs (a container id).
    - ``transient``: a temporary failure; retry with backoff (or after ``retry_after``).
    - ``unconfirmed``: an earlier attempt may be live on the platform and the platform cannot say
      whether it is (its list of posts could not be read to the end, or two posts match). The core
      settles the task as ``unconfirmed`` and never sends it again; ``reason`` tells the user what
      to check.
    - ``permanent``: will not succeed as it is; ``reason`` tells the user why. With
      ``account_status`` (``expired`` or ``invalid``) the account's token itself was refused: the
      core marks the account, so its other tasks fail at once without calling the platform, and
      announces ``account.needs_reconnect``.

    ``maybe_live`` (on ``transient`` and ``permanent``) says that an earlier attempt may have reached
    the platform and nothing has confirmed or ruled it out yet (a lost answer, a container whose
    status could not be read). The core then never lets the task end ``failed``: when it runs out of
    attempts, or the failure is permanent, the task ends ``unconfirmed``; until then it is handed to
    ``reconcile`` before ``publish`` runs again.
    """

    kind: Literal["published", "pending", "transient", "unconfirmed", "permanent"]
    platform_post_id: str | None = None
    url: str | None = None
    retry_after: float | None = None
    reason: str | None = None
    state: dict[str, Any] = dataclasses.field(default_factory=dict)
    account_status: Literal["expired", "invalid"] | None = None
    maybe_live: bool = False

    @classmethod
    def published(cls, platform_post_id: str, url: str | None = None) -> PublishOutcome:
        """The post is live on the platform."""
        return cls("published", platform_post_id=platform_post_id, url=url)

    @classmethod
    def pending(cls, retry_after: float, **state: Any) -> PublishOutcome:
        """Not finished yet; call ``check`` again after ``retry_after`` seconds with ``state``."""
        return cls("pending", retry_after=retry_after, state=state)

    @classmethod
    def transient(cls, reason: str, retry_after: float | None = None, *, maybe_live: bool = False) -> PublishOutcome:
        """A temporary failure worth retrying (``maybe_live``: an earlier attempt may be live, unconfirmed)."""
        return cls("transient", reason=reason, retry_after=retry_after, maybe_live=maybe_live)

    @classmethod
    def unconfirmed(cls, reason: str) -> PublishOutcome:
        """An earlier attempt may be live and nobody can tell: never send the post again."""
        return cls("unconfirmed", reason=reason)

    @classmethod
    def permanent(cls, reason: str, account_status: Literal["expired", "invalid"] | None = None, *,
                  maybe_live: bool = False) -> PublishOutcome:
        """A failure that retrying cannot fix; ``account_status`` when the account's token was refused.

        With ``maybe_live`` (an earlier attempt may be live and this failure stops Herald from checking)
        the task ends ``unconfirmed`` instead of ``failed``."""
        return cls("permanent", reason=reason, account_status=account_status, maybe_live=maybe_live)


@dataclasses.dataclass(frozen=True)
class Generation:
    """The answer of an AI provider, and of :func:`herald.ai.generate`.

    ``text`` is the model's answer; ``data`` the parsed (and schema-checked) JSON when a schema was
    asked for, else None. ``provider`` and ``model`` say who answered (the core fills ``provider``
    in when a provider leaves it empty); the token counts come from the provider's usage report.
    """

    text: str
    data: Any = None
    provider: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclasses.dataclass(frozen=True)
class ProviderSettings:
    """What :func:`herald.ai.generate` hands an AI provider's ``generate`` as ``settings``: the
    workspace's values its plugin declared (``herald.settings.WorkspaceSetting``) and the server's
    ``config`` (base URLs).

    ``api_key`` is the decrypted value named ``api_key`` (never empty when the plugin declares one:
    the core answers ``no_api_key`` before calling; None when it declares none), ``model`` the value
    named ``model`` (None: the provider's default), ``values`` every declared value by name.
    """

    api_key: str | None
    model: str | None
    config: Any
    values: Mapping[str, str | None] = dataclasses.field(default_factory=dict, hash=False)


@dataclasses.dataclass(frozen=True)
class Score:
    """A scoring strategy's verdict: ``value`` in 0..100 and the reasons behind it.

    ``confidence`` (0..1) is how much the verdict should weigh when several strategies are
    combined: the combined score is the mean of the values weighted by confidence, so a strategy
    that knows little (a learned scorer with almost no history) says so with a low confidence
    instead of pulling the result towards a guess. ``details`` holds what the strategy measured,
    as JSON-ready data.
    """

    value: float
    reasons: list[str] = dataclasses.field(default_factory=list)
    confidence: float = 1.0
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Action:
    """An action for ``POST /api/webhooks``.

    ``schema`` is a JSON Schema (a dict) or the name of a file in ``schemas/`` (without
    ``.json``). ``handler(ctx, payload)`` returns ``(body, status)`` or a body (status 200).
    ``scope`` is the API-key scope the caller needs. With ``transaction=False`` the handler is not
    wrapped in a write transaction: it opens ``herald.db.models.write_transaction()`` itself around its
    writes, so its reads and computation do not hold the database's write lock.
    """

    name: str
    handler: Any
    schema: dict | str
    scope: str = "posts:write"
    description: str = ""
    transaction: bool = True
