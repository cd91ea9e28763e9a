"""``POST /api/media`` (multipart upload, 50 MB per file, decoded before it is kept; or JSON ``{"url": …}``
to download the file, see :mod:`herald.media.url_import`), ``GET /api/media/<id>`` and ``PATCH
/api/media/<id>`` (its ``alt_text``: what it shows, in words, for the platforms that publish one)."""

from flask import Blueprint, g, jsonify, request

from ...db import unstorable_text
from ...db.models import Media, isoformat
from ...errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationError
from ...media import url_import
from ...media.configured import media_store
from ...media.uploads import HashingSpool, facts_columns, size_limit_message, stored
from . import endpoint, runtime

bp = Blueprint("media", __name__, url_prefix="/api/media")

MULTIPART_OVERHEAD = 64 * 1024  # room for part headers and form fields around the file
# Mastodon keeps descriptions of at most 1,500 characters, the shortest limit of the platforms that publish one.
MAX_ALT_TEXT = 1500


def serialize_media(row: Media) -> dict:
    """The JSON shape of an uploaded file, with what decoding it found (null where unknown)."""
    aspect_ratio = round(row.width / row.height, 4) if row.width and row.height else None
    return {"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size,
            "sha256": row.sha256, "width": row.width, "height": row.height, "aspect_ratio": aspect_ratio,
            "duration_seconds": row.duration_seconds, "video_codec": row.video_codec,
            "audio_codec": row.audio_codec, "frame_rate": row.frame_rate, "alt_text": row.alt_text,
            "created_at": isoformat(row.created_at)}


@endpoint(bp, "", ("POST",), summary="Upload an image or video (multipart field 'file', 50 MB max), or import "
          "one from a URL (JSON {\"url\": ...})", scope="posts:write", content_type="multipart/form-data",
          body="media_import", responses={201: "media"}, errors=(422,))
def upload(payload=None):
    """Stream the file to disk (or download it from ``url``), check its type by content and decode it,
    record its SHA-256 and facts."""
    config = runtime().config
    if payload is not None:
        row = url_import.import_url(config, g.principal.workspace_id, payload["url"])
        alt_text = _alt_text(payload.get("alt_text"))
        if alt_text:
            row.alt_text = alt_text
            row.save(only=[Media.alt_text])
        return jsonify({"media": serialize_media(row)}), 201
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Upload the file as multipart/form-data in the field 'file', or send "
                                   "JSON {\"url\": ...} to import it from a URL.")
    request.max_content_length = config.max_upload_bytes + MULTIPART_OVERHEAD
    if request.content_length is not None and request.content_length > request.max_content_length:
        # Refuse on the declared length alone, with the same answer as a file caught while streaming.
        raise PayloadTooLarge(size_limit_message(config.max_upload_bytes), field="file")
    spools: list[HashingSpool] = []

    def stream_factory(total_content_length, content_type, filename, content_length=None):
        spool = HashingSpool(config.media_dir / "tmp", config.max_upload_bytes)
        spools.append(spool)
        return spool

    request._get_file_stream = stream_factory
    try:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ValidationError("Send the file in the multipart field 'file'.", field="file")
        alt_text = _alt_text(request.form.get("alt_text"))
        spool = upload.stream
        with stored(spool, media_store(config)) as file:
            row = Media.create(workspace=g.principal.workspace_id,
                               filename=unstorable_text.strip(upload.filename)[:255],
                               content_type=file.content_type, size=spool.size, sha256=spool.sha256,
                               path=file.path, alt_text=alt_text, **facts_columns(file.facts))
    finally:
        for spool in spools:
            spool.discard()
    return jsonify({"media": serialize_media(row)}), 201


@endpoint(bp, "/<int:media_id>", ("GET",), summary="Describe an uploaded file", scope="posts:read",
          responses={200: "media"})
def describe(media_id):
    """Metadata of one uploaded file of the workspace."""
    row = Media.get_or_none((Media.id == media_id) & (Media.workspace == g.principal.workspace_id))
    if row is None:
        raise NotFound(f"No media {media_id} in this workspace.")
    return jsonify({"media": serialize_media(row)})


@endpoint(bp, "/<int:media_id>", ("PATCH",), summary="Set an uploaded file's alt text (what it shows, in words)",
          scope="posts:write", body="media_update", responses={200: "media"})
def update(media_id, payload):
    """Set or clear (null) the file's ``alt_text``, which Bluesky, Mastodon and LinkedIn publish with it.
    Posts already queued publish the new text."""
    row = Media.get_or_none((Media.id == media_id) & (Media.workspace == g.principal.workspace_id))
    if row is None:
        raise NotFound(f"No media {media_id} in this workspace.")
    row.alt_text = _alt_text(payload["alt_text"])
    row.save(only=[Media.alt_text])
    return jsonify({"media": serialize_media(row)})


def _alt_text(value: str | None) -> str | None:
    """The multipart field ``alt_text`` checked as the JSON bodies' schema checks it (None when empty)."""
    if value is None or not value.strip():
        return None
    if len(value) > MAX_ALT_TEXT:
        raise ValidationError(f"alt_text has {len(value):,} characters; at most {MAX_ALT_TEXT:,} are kept "
                              "(Mastodon's limit, the shortest of the platforms that publish it).", field="alt_text")
    return unstorable_text.strip(value)
