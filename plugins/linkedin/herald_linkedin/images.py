"""Uploading a post's images through LinkedIn's Images API, each once per task.

``POST /rest/images?action=initializeUpload`` gives an ``uploadUrl`` and the image's URN; the file's
bytes are ``PUT`` there; the image is usable once ``GET /rest/images/{urn}`` says ``AVAILABLE``. Each
uploaded URN is saved in the task's state before the next step, so a retried task never uploads an
image twice; an upload cut off half-way leaves an image no post uses, which is harmless.
"""

from __future__ import annotations

from herald.sdk import TaskContext
from herald.sdk.media import MediaMissing, read_media
from herald_linkedin.client import LinkedInClient, quote
from herald_linkedin.errors import INVALID, LinkedInError

AVAILABLE = "AVAILABLE"
FAILED = "PROCESSING_FAILED"


def upload_all(ctx: TaskContext, client: LinkedInClient, owner: str) -> list[str]:
    """The URNs of the post's images on LinkedIn, uploading those not uploaded by an earlier attempt.

    Raises :class:`LinkedInError` (never ``uncertain``: no post exists yet, so a retry is safe)."""
    uploaded = list(ctx.state.get("image_urns") or [])
    for media in [media for media in ctx.post.media if media.kind == "image"][len(uploaded):]:
        try:
            data = read_media(media, config=ctx.config)
        except MediaMissing as exc:
            raise LinkedInError(str(exc), kind=INVALID) from None
        try:
            started = client.post("images", {"initializeUploadRequest": {"owner": owner}},
                                  action="initializeUpload").data["value"]
            client.upload(started["uploadUrl"], data, media.content_type)
        except LinkedInError as err:
            err.uncertain = False
            raise
        uploaded.append(started["image"])
        ctx.save_state(image_urns=uploaded)
    return uploaded


def not_ready(client: LinkedInClient, urns: list[str]) -> list[str]:
    """The images LinkedIn is still processing; raises :class:`LinkedInError` for one it could not process."""
    waiting = []
    for urn in urns:
        status = (client.get(f"images/{quote(urn)}").data or {}).get("status")
        if status == FAILED:
            raise LinkedInError(f"LinkedIn could not process the image {urn}", kind=INVALID)
        if status != AVAILABLE:
            waiting.append(urn)
    return waiting
