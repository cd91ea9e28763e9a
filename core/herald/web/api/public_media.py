"""``GET /media/<token>/<filename>``: uploaded files at signed, expiring public links (no API key)."""

from flask import Blueprint, current_app, send_file

from ...db.models import Media, MediaRendition
from ...errors import NotFound
from ...media.public_links import resolve, resolve_rendition
from ...media.uploads import ALLOWED
from . import endpoint, runtime

bp = Blueprint("public_media", __name__)


@endpoint(bp, "/media/<token>/<path:filename>", ("GET",), auth=False,
          summary="Download an uploaded file from a signed link (how platforms fetch media)",
          response_type=tuple(ALLOWED))
def download(token: str, filename: str):
    """Serve the file (an upload, or a rendition made for a platform) the signed token names; 404 for a
    forged or expired link."""
    media_id = resolve(current_app.config["SECRET_KEY"], token)
    row = Media.get_or_none(Media.id == media_id) if media_id is not None else None
    if row is None:
        rendition_id = resolve_rendition(current_app.config["SECRET_KEY"], token)
        row = MediaRendition.get_or_none(MediaRendition.id == rendition_id) if rendition_id is not None else None
    if row is None:
        raise NotFound("This media link is invalid or has expired.")
    path = (runtime().config.media_dir / row.path).resolve()
    if not path.is_file():
        raise NotFound("This media file is no longer stored.")
    return send_file(path, mimetype=row.content_type, conditional=True, max_age=3600)
