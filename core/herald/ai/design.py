"""``generate-template``: a post template from an uploaded logo. The palette is measured from the
logo's pixels (:mod:`herald.media.palette`); typography and layout come from the AI, within a schema.
Stored as a :class:`~herald.db.models.DesignTemplate`."""

from __future__ import annotations

from .. import ai
from ..db.models import DesignTemplate as Template
from ..db.models import Media, isoformat
from ..errors import NotFound, ValidationError
from ..media import palette
from ..media.configured import media_store
from ..media.store import MediaNotStored
from ..publishing.posts import get_client
from ..runtime import Runtime

FEATURE = "generate_template"
ROLES = ("primary", "secondary", "accent", "background", "text")

SYSTEM = ("You are a brand designer. Given a logo's measured colour palette and the brand's voice, you design a "
          "reusable social-media post template: typography (Google Fonts families with a generic fallback) and "
          "a layout. Use only the palette roles you are given for colours.")

_FONT = {"type": "object", "required": ["family", "weight", "fallback"], "properties": {
    "family": {"type": "string", "minLength": 1, "maxLength": 60},
    "weight": {"type": "integer", "minimum": 100, "maximum": 900},
    "fallback": {"type": "string", "enum": ["serif", "sans-serif", "monospace", "cursive"]}}}
SCHEMA = {"type": "object", "required": ["name", "typography", "layout", "rationale"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 80},
    "typography": {"type": "object", "required": ["heading", "body", "scale"], "properties": {
        "heading": _FONT, "body": _FONT,
        "scale": {"type": "number", "minimum": 1.05, "maximum": 2.0}}},
    "layout": {"type": "object", "required": ["format", "logo_position", "text_alignment", "margin_percent",
                                              "elements"], "properties": {
        "format": {"type": "string", "enum": ["square", "portrait", "story", "landscape"]},
        "logo_position": {"type": "string", "enum": ["top-left", "top-right", "bottom-left", "bottom-right",
                                                     "top-center", "bottom-center"]},
        "text_alignment": {"type": "string", "enum": ["left", "center", "right"]},
        "margin_percent": {"type": "number", "minimum": 0, "maximum": 20},
        "elements": {"type": "array", "minItems": 2, "maxItems": 8, "items": {
            "type": "object", "required": ["type", "area", "color_role"], "properties": {
                "type": {"type": "string", "enum": ["logo", "headline", "body", "cta", "image", "shape"]},
                "area": {"type": "string", "enum": ["top", "middle", "bottom", "full"]},
                "color_role": {"type": "string", "enum": list(ROLES)}}}}}},
    "rationale": {"type": "string", "minLength": 1, "maxLength": 800}}}


def logo(workspace_id: int, media_id: int) -> Media:
    """The workspace's uploaded image; 404 for another workspace's or unknown media, 400 for a video."""
    row = Media.get_or_none((Media.id == media_id) & (Media.workspace == workspace_id))
    if row is None:
        raise NotFound(f"No media {media_id} in this workspace; upload the logo with POST /api/media first.",
                       field="media_id")
    if not row.content_type.startswith("image/"):
        raise ValidationError(f"Media {media_id} is a {row.content_type} file; a logo must be an image "
                              "(PNG with transparency works best).", field="media_id")
    return row


def build_prompt(roles: list[dict], client) -> str:
    """The user prompt: the palette with roles and shares, and the brand."""
    lines = [f"- {role['role']}: {role['hex']}" + (f" ({role['share']:.0%} of the logo)" if role["share"] else
                                                   " (derived for legibility)") for role in roles]
    brand = (f"Brand: {client.name}. Voice: {client.brand_voice.strip() or 'not described'}." if client is not None
             else "Brand: not named.")
    return f"{brand}\n\nLogo palette:\n" + "\n".join(lines) + "\n\nDesign the template."


def serialize(row: Template) -> dict:
    """The JSON shape of a stored template."""
    return {"id": row.id, "media_id": row.media_id, "client_id": row.client_id, "job_id": row.job_id,
            "palette": row.palette, **row.template, "created_at": isoformat(row.created_at)}


def get_template(workspace_id: int, template_id: int) -> Template:
    """The workspace's template; 404 for an unknown id or another workspace's."""
    row = Template.get_or_none((Template.id == template_id) & (Template.workspace == workspace_id))
    if row is None:
        raise NotFound(f"No template {template_id} in this workspace.")
    return row


def generate_template(runtime: Runtime, *, workspace_id: int, job_id: str, media_id: int,
                      client_id: int | None = None) -> dict:
    """Measure the logo, ask the AI for typography and layout, store the template (a job's function)."""
    config = runtime.config
    row = logo(workspace_id, media_id)
    client = get_client(workspace_id, client_id) if client_id is not None else None
    try:
        with media_store(config).local_path(row.path) as path:
            colors = palette.dominant_colors(path)
    except MediaNotStored:
        raise palette.LogoUnreadable("The logo's file is no longer stored.", field="media_id") from None
    roles = palette.palette_roles(colors)
    generation = ai.generate(runtime, workspace_id, feature=FEATURE, prompt=build_prompt(roles, client), system=SYSTEM,
                             schema=SCHEMA, client_id=client_id)
    template = {name: generation.data[name] for name in ("name", "typography", "layout", "rationale")}
    template["colors"] = [{"hex": c["hex"], "share": c["share"]} for c in colors]
    stored = Template.create(workspace=workspace_id, media=media_id, client=client_id, palette=roles,
                             template=template, job=job_id, created_at=runtime.clock.now())
    return {"template": serialize(stored)}
