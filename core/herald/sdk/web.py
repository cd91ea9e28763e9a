"""HTTP routes of a plugin (``register_blueprints``): define each with :func:`endpoint` so it gets
authentication, scopes, schema validation, Idempotency-Key handling and a place in ``/openapi.json``,
and guard it with :func:`plugin_feature` so it answers 403 ``feature_disabled`` in workspaces where
the plugin is disabled. :func:`runtime` is the application's :class:`herald.sdk.Runtime`.
"""

from __future__ import annotations

from ..plugins import plugin_feature, require_enabled
from ..web.api import endpoint, id_query, int_arg, int_query, runtime

__all__ = ["endpoint", "id_query", "int_arg", "int_query", "plugin_feature", "require_enabled", "runtime"]
