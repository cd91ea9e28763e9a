"""``GET /media/<token>/<filename>``: uploaded files at signed, expiring public links (no API key)."""

from flask import Blueprint, Response, current_app, request, send_file
from werkzeug.wsgi import wrap_file

from ...db.models import Media, MediaRendition
from ...errors import NotFound
from ...media.configured import media_store
from ...media.public_links import resolve, resolve_rendition
from ...media.store import MediaNotStored
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
    store = media_store(runtime().config)
    path = store.local_file(row.path)
    if path is not None:
        return send_file(path, mimetype=row.content_type, conditional=True, max_age=3600)
    # A store elsewhere (S3): streamed through in pieces, never held whole in memory.
    found = store.stat(row.path)
    try:
        stream = store.open(row.path) if found is not None else None
    except MediaNotStored:
        stream = None
    if stream is None:
        raise NotFound("This media file is no longer stored.")
    response = Response(wrap_file(request.environ, stream), mimetype=row.content_type, direct_passthrough=True)
    response.content_length = found.size
    response.last_modified = found.modified
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response
