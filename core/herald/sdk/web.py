"""HTTP routes of a plugin (``register_blueprints``): define each with :func:`endpoint` so it gets
authentication, scopes, schema validation, Idempotency-Key handling and a place in ``/openapi.json``,
and guard it with :func:`plugin_feature` so it answers 403 ``feature_disabled`` in workspaces where
the plugin is disabled. :func:`runtime` is the application's :class:`herald.sdk.Runtime`. A list pages
with :func:`listed` (``cursor`` in, ``next_cursor`` out, declared with :func:`cursor_query`), as the core's do.

A section of the Integrations page (:class:`herald.sdk.IntegrationSection`) declares its forms with
:func:`app_form` (session, CSRF value, scope, a redirect back with a notice); :func:`flash_secret`
keeps a secret to show once on the next view of the page.

A plugin acting for the holder of an API key (the MCP server's tools) calls Herald's own API in this
process with :class:`LocalApi` (``LocalApi.current()`` in a view, ``LocalApi.for_runtime(runtime)`` in
a console command): scopes, validation, the error envelope (:attr:`ApiAnswer.error`) and events are
exactly the API's.
"""

from __future__ import annotations

from ..plugins import plugin_feature, require_enabled
from ..web.api import endpoint, id_query, int_arg, int_query, runtime
from ..web.api.app_forms import app_form, flash_secret
from ..web.api.paging import cursor_query, listed
from ..web.local_api import ApiAnswer, LocalApi

__all__ = ["app_form", "endpoint", "flash_secret", "id_query", "int_arg", "int_query", "plugin_feature",
           "require_enabled", "runtime"]
__all__ += ["cursor_query", "listed"]  # keyset pages: cursor in, next_cursor out (herald.web.api.paging)
__all__ += ["ApiAnswer", "LocalApi"]  # the API called in this process (herald.web.local_api)
