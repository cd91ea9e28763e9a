"""Driving the Instagram and Facebook plugins in tests: task contexts whose commits are recorded (a
worker killed after a commit included), media, a JPEG to upload, an account connected over the API."""

from __future__ import annotations

import dataclasses
import io
import re
import socket
import time

import media_samples

from fakes.graph import IG_TOKEN, IG_USER_ID, IG_USERNAME, PAGE_ID, PAGE_NAME, PAGE_TOKEN
from herald.clock import FakeClock
from herald.platforms import AccountRef, MediaRef, PostRef, TaskContext
from herald_facebook import FacebookPlatform
from herald_instagram import InstagramPlatform

CAPTION = "Fresh bread at 7, as every Saturday #bakery"
instagram = InstagramPlatform()
facebook = FacebookPlatform()


def image(n: int = 1, content_type: str = "image/jpeg") -> MediaRef:
    return MediaRef(id=f"img{n}", kind="image", content_type=content_type, url=f"https://media.test/{n}.jpg",
                    size=1000, sha256="0" * 64)


def video(n: int = 1) -> MediaRef:
    return MediaRef(id=f"vid{n}", kind="video", content_type="video/mp4", url=f"https://media.test/{n}.mp4",
                    size=10_000, sha256="0" * 64)


def ig_account(token: str = IG_TOKEN) -> AccountRef:
    return AccountRef(id="acct-ig", platform="instagram", external_id=IG_USER_ID, username=IG_USERNAME, token=token)


def page_account(token: str = PAGE_TOKEN) -> AccountRef:
    return AccountRef(id="acct-fb", platform="facebook", external_id=PAGE_ID, username=PAGE_NAME, token=token)


@dataclasses.dataclass
class Task:
    """A task context whose commits are recorded with how many requests the fake had seen then."""

    ctx: TaskContext
    commits: list[tuple[int, dict]]

    def after_crash(self) -> TaskContext:
        """A fresh context holding only what was committed, as a new worker would load it."""
        state = dict(self.commits[-1][1]) if self.commits else {}
        return dataclasses.replace(self.ctx, state=state, attempt=self.ctx.attempt + 1)


class WorkerDied(Exception):
    """Raised by a saver to stop a plugin right after a commit, as a killed worker would."""


def make_task(fake, config, account, *, post_type="post", caption=CAPTION, media=(), die_after=None) -> Task:
    """A task; ``die_after(state)`` true makes the commit of that state the worker's last act."""
    commits: list[tuple[int, dict]] = []

    def saver(values):
        commits.append((len(fake.requests) if fake else 0, values))
        if die_after and die_after(values):
            raise WorkerDied

    ctx = TaskContext(task_id="task-1", post=PostRef(id=1, caption=caption, post_type=post_type, media=tuple(media)),
                      account=account, config=config, clock=FakeClock(), _saver=saver)
    return Task(ctx, commits)


def ig_task(fake, config, **kwargs) -> Task:
    kwargs.setdefault("media", (image(),))
    return make_task(fake, config, ig_account(), **kwargs)


def fb_task(fake, config, **kwargs) -> Task:
    return make_task(fake, config, page_account(), **kwargs)


# A photo Instagram shows as it is (square, 400 px wide: no rescaling warning).
JPEG = media_samples.jpeg(400, 400)


def upload_jpeg(client, tenant) -> str:
    response = client.post("/api/media", headers=tenant.headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(JPEG), "bread.jpg", "image/jpeg")})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["media"]["id"]


def connect_account(client, tenant, platform: str, token: str):
    return client.post("/v1/accounts", json={"platform": platform, "access_token": token}, headers=tenant.headers)


def index_of(fake, method: str, path_regex: str) -> int:
    """Position in the request log of the first matching request."""
    return next(i for i, req in enumerate(fake.requests) if req.method == method and re.search(path_regex, req.path))


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float = 5.0) -> None:
    """Wait for the fake's own thread to finish something (used only after an injected delay)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the fake did not get there in time"
        time.sleep(0.01)


def short_lived_user(fake, token="EAAU-short-lived"):
    """A Facebook user token with an hour left (as the Graph API Explorer gives), managing the Page."""
    fake.add_user("10220000000000003", "Short Lived", token=token, pages=[PAGE_ID], expires_in=3600)
    return token
