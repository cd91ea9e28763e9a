"""The Herald plugin SDK: the one module a plugin imports (with :mod:`herald.testing` in its tests).

A platform plugin subclasses :class:`Platform`, an AI provider :class:`AIProvider`, a scoring
strategy :class:`Scorer`, a place events go :class:`WebhookSink`; each registers its objects with
the hooks (``@hookimpl def register_platforms(register): ...``) and declares its settings with
:class:`Setting` (server-wide, from ``HERALD_*`` variables) and :class:`WorkspaceSetting` (per
workspace, such as an API key: stored encrypted, set with ``PUT /api/settings``). A plugin keeping
tables of its own and running durable work uses :mod:`herald.sdk.storage`, :mod:`herald.sdk.work`
and :mod:`herald.sdk.web`; one making HTTP calls to an address a user gave uses :mod:`herald.sdk.http`.
Nothing else of Herald is a plugin's to import: ``make test`` fails when a plugin does (``.importlinter``).
"""

from __future__ import annotations

from .. import ids
from ..ai.provider import (
    AIBlocked,
    AIInvalidOutput,
    AIProvider,
    AIProviderError,
    AITruncated,
    AIUnavailable,
    InvalidApiKey,
    NoApiKey,
    UnknownModel,
    check_output,
)
from ..clock import Clock
from ..config import Config
from ..errors import (
    Conflict,
    FeatureDisabled,
    Forbidden,
    HeraldError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationError,
)
from ..events import DomainEvent
from ..events import record as record_event
from ..hookspecs import hookimpl
from ..integration_sections import IntegrationSection
from ..intelligence.scoring import Scorer, ScoringContext, ScoringPost
from ..outcomes import Action, Generation, ProviderSettings, PublishOutcome, Score
from ..platforms import (
    AccountRef,
    AuthorizationRequest,
    ConnectedAccount,
    ConnectField,
    ConnectFlow,
    MediaRef,
    NotConfigured,
    OAuthGrant,
    Platform,
    PlatformRejected,
    PlatformUnavailable,
    PostRef,
    PublishingQuota,
    RefreshedToken,
    TaskContext,
    TokenHealth,
)
from ..plugins import WebhookSink
from ..post_rules import MediaRule, PostRules, Ratio
from ..runtime import Runtime
from ..settings import Setting, WorkspaceSetting
from ..work import Outcome, RetryPolicy, WorkKind, WorkRow

__all__ = [
    # hooks
    "hookimpl",
    # platforms
    "AccountRef", "AuthorizationRequest", "ConnectField", "ConnectFlow", "ConnectedAccount", "MediaRef",
    "NotConfigured", "OAuthGrant", "Platform", "PlatformRejected",
    "PlatformUnavailable", "PostRef", "PublishOutcome", "PublishingQuota", "RefreshedToken", "TaskContext",
    "TokenHealth",
    # what a platform takes (checked by the core before queueing and sending)
    "MediaRule", "PostRules", "Ratio",
    # AI providers
    "AIBlocked", "AIInvalidOutput", "AIProvider", "AIProviderError", "AITruncated", "AIUnavailable", "Generation",
    "InvalidApiKey", "NoApiKey", "ProviderSettings", "UnknownModel", "check_output",
    # scoring
    "Score", "Scorer", "ScoringContext", "ScoringPost",
    # events and sinks
    "DomainEvent", "WebhookSink", "record_event",
    # the Integrations page
    "IntegrationSection",
    # actions of POST /api/webhooks
    "Action",
    # settings, the runtime
    "Clock", "Config", "Runtime", "Setting", "WorkspaceSetting",
    # durable work (herald.sdk.work has the rest)
    "Outcome", "RetryPolicy", "WorkKind", "WorkRow",
    # errors a client sees (the envelope)
    "Conflict", "FeatureDisabled", "Forbidden", "HeraldError", "NotFound", "PayloadTooLarge", "Unauthorized",
    "UnsupportedMediaType", "ValidationError",
    # public ids (post_12, whk_3)
    "ids",
]
