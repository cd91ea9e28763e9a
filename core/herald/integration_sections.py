"""Sections plugins add to the Integrations page (``/app/integrations``), through the hook
``register_integration_sections``: the page names no plugin; it renders every registered section of
a plugin enabled for the workspace, after its own (keys, accounts, plugins, settings, usage).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class IntegrationSection:
    """Base class of a section of the Integrations page: subclass it, set ``name`` and ``title``, write
    ``render``.

    ``name`` is the section's anchor (``#webhooks``) and the prefix of its notices: a form of the
    section (declared with :func:`herald.sdk.web.app_form`) returns ``"<name>.<code>"`` and the page
    shows ``notices[code]``, a fixed text (nothing from the URL is ever shown). ``render(page)`` gets
    the page's :class:`herald.web.api.app_forms.SectionPage` (the caller's principal, the CSRF value
    every form carries, ``page.can(scope)`` to leave out forms the caller's role may not send) and
    returns the section's HTML (``flask.render_template`` of the plugin's own template).
    """

    name: str = ""
    title: str = ""
    notices: Mapping[str, str] = {}

    def render(self, page: Any) -> str:
        """The section's HTML for ``page``."""
        raise NotImplementedError
