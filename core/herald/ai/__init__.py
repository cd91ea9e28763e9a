"""The one entry point every AI feature uses: :func:`generate`.

::

    from herald import ai

    result = ai.generate(runtime, workspace_id, feature="populate_hooks", prompt=prompt, system=system,
                         schema=HOOKS_SCHEMA, client_id=client.id)
    result.data["hooks"]          # parsed and checked against HOOKS_SCHEMA

It picks the workspace's AI provider (registered through ``register_ai_providers``), answers
``no_api_key`` when the workspace has no key, reserves one of the month's generations (``plan_limit``
when they are used up), calls the provider outside any database transaction, and records the call
with its tokens, succeeded or failed. Errors are :class:`herald.errors.HeraldError` subclasses.
"""

from __future__ import annotations

import dataclasses
import logging

from ..errors import FeatureDisabled, HeraldError
from ..outcomes import Generation
from ..plans import ai_usage
from ..plugins import PluginRegistry, Registered, check_enabled
from ..runtime import Runtime
from . import background
from . import settings as ai_settings
from .provider import AIProviderError, check_output

__all__ = ["Generation", "check_ready", "generate", "provider_for"]

log = logging.getLogger("herald.ai")


def provider_for(runtime: Runtime, workspace_id: int) -> Registered:
    """The workspace's AI provider: the one ``HERALD_AI_PROVIDER`` names, else the only one loaded,
    else the first by name (:meth:`herald.plugins.PluginRegistry.ai_provider`).

    403 ``feature_disabled`` when no provider plugin is loaded (the message says whether to install
    one or to stop ``HERALD_PLUGINS`` leaving it out) or when the provider's plugin is disabled for
    the workspace (the message says how to enable it). A disabled provider is never replaced by
    another one: the workspace's stored key would go to a provider it was not meant for.
    """
    registered = runtime.registry.ai_provider(runtime.config.ai_provider)
    if registered is None:
        raise FeatureDisabled(no_provider_message(runtime.registry))
    check_enabled(runtime.registry, workspace_id, registered.plugin, "AI generation")
    return registered


def no_provider_message(registry: PluginRegistry) -> str:
    """Why no AI provider is loaded, and what an operator does about it."""
    message = "AI features need an AI provider plugin, and none is loaded on this server. "
    left_out = registry.left_out_implementing("register_ai_providers")
    if len(left_out) == 1:
        [name] = left_out
        return message + (f"The {name} plugin is installed but HERALD_PLUGINS leaves it out: an operator adds {name} "
                          "to HERALD_PLUGINS (or unsets it to load every installed plugin) and restarts Herald.")
    if left_out:
        return message + (f"The plugins {', '.join(left_out)} are installed but HERALD_PLUGINS leaves them out: an "
                          "operator adds one of them to HERALD_PLUGINS (or unsets it to load every installed plugin; "
                          "HERALD_AI_PROVIDER picks one when several are loaded) and restarts Herald.")
    return message + ("An operator installs a distribution providing one (a Herald plugin implementing "
                      "register_ai_providers) and restarts Herald; then an admin of the workspace adds the "
                      "provider's API key with PUT /api/settings (GET /api/settings shows its fields).")


def check_ready(runtime: Runtime, workspace_id: int) -> None:
    """Raise what :func:`generate` would raise before calling the provider (no provider, no key, plan limit).

    Endpoints that start AI work in the background call it so the client learns at once; the job
    checks again (and reserves) when it runs.
    """
    registered = provider_for(runtime, workspace_id)
    ai_settings.provider_settings(runtime, workspace_id, registered)
    ai_usage.check_limit(workspace_id, runtime.clock.now())


def generate(runtime: Runtime, workspace_id: int, *, feature: str, prompt: str, system: str | None = None,
             schema: dict | None = None, client_id: int | None = None) -> Generation:
    """Generate with the workspace's AI provider, counting and recording the call.

    ``feature`` names the caller in the usage report (``populate_hooks``). With ``schema`` (a JSON
    Schema) the answer is JSON, parsed into ``data`` and checked against it. Raises ``no_api_key``,
    ``plan_limit``, ``feature_disabled`` or the provider's error (``ai_blocked``, ``ai_truncated``, …).
    Must not be called inside a database transaction: the provider call can take a while.
    """
    registered = provider_for(runtime, workspace_id)
    provider = registered.obj
    settings = ai_settings.provider_settings(runtime, workspace_id, registered)
    model = settings.model or getattr(provider, "default_model", "") or ""
    reservation = ai_usage.reserve(workspace_id, runtime.clock.now(), feature=feature, provider=provider.name,
                                   model=model, client_id=client_id, job_id=background.current_job_id())
    try:
        result = provider.generate(prompt, system=system, schema=schema, settings=settings)
        if not isinstance(result, Generation):
            raise AIProviderError(f"The AI provider {provider.name!r} returned {type(result).__name__}, "
                                  "not a herald.Generation.")
        if schema is not None:
            check_output(schema, result.data)  # the provider should have; never pass on unchecked data
    except HeraldError as exc:
        usage = getattr(exc, "usage", None) or (0, 0)
        ai_usage.fail(reservation, f"{exc.code}: {exc.message}", input_tokens=usage[0], output_tokens=usage[1])
        raise
    except Exception as exc:
        ai_usage.fail(reservation, f"internal_error: {type(exc).__name__}: {exc}")
        log.exception("AI provider %s failed for workspace %s (%s)", provider.name, workspace_id, feature)
        raise
    result = dataclasses.replace(result, provider=result.provider or provider.name, model=result.model or model)
    ai_usage.finish(reservation, model=result.model, input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens)
    return result
