"""What the Mastodon plugin's tests do: over Herald's API (connect an account, publish, read a task), and
with the plugin called as the core calls it (a :class:`Task` whose worker may die, media files served
as Herald's public links serve them)."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import av
from fake_mastodon import ALICE, ALICE_TOKEN
from PIL import Image

from herald.sdk import AccountRef, Config, MediaRef, PostRef, TaskContext
from herald.testing import FakeAPI, route


def connect(client, workspace, server, token=ALICE_TOKEN):
    return client.post("/v1/accounts", headers=workspace.headers,
                       json={"platform": "mastodon", "access_token": token, "details": {"server": server}})


def publish(client, workspace, account_id, content="Hello fediverse", **extra):
    answer = client.post("/v1/publish", headers=workspace.headers, json={
        "content": content, "accounts": [account_id], "client_id": workspace.client.id, **extra})
    assert answer.status_code in (201, 202), answer.get_json()
    return answer.get_json()["id"]


def task_of(client, workspace, post_id):
    [task] = client.get(f"/v1/posts/{post_id}", headers=workspace.headers).get_json()["tasks"]
    return task


def requested(fake, method, path):
    """Whether ``fake`` was sent a ``method`` request for ``path``."""
    return any(call.method == method and call.path == path for call in fake.calls)


def upload(client, workspace, data, name):
    """Upload a file to Herald's media library: its id for ``"media"`` of a post."""
    answer = client.post("/api/media", headers=workspace.headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(data), name)})
    assert answer.status_code == 201, answer.get_json()
    return f"media_{answer.get_json()['media']['id']}"


def jpeg(width=400, height=300):
    """A small JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def mp4(frames=10):
    """A one-second H.264 video."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(frames):
            output.mux(stream.encode(av.VideoFrame.from_image(Image.new("RGB", (64, 48), (40, 80, 160)))))
        output.mux(stream.encode())
    return buffer.getvalue()


class Files(FakeAPI):
    """Files at links like Herald's public media links, as the plugin downloads them."""

    def __init__(self):
        super().__init__()
        self.files = {}

    def add(self, name, data, content_type, alt_text=""):
        """Serve ``data`` as ``/media/<name>``: the :class:`MediaRef` a platform would be handed."""
        self.files[name] = (data, content_type)
        return MediaRef(id=f"media_{name}", kind=content_type.split("/")[0], content_type=content_type,
                        url=f"{self.url}/media/{name}", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                        alt_text=alt_text)

    @route("GET", r"/media/(?P<name>[^/]+)")
    def file(self, call, name):
        data, content_type = self.files[name]
        return 200, data, {"Content-Type": content_type}


class WorkerDied(BaseException):
    """What a worker killed with SIGKILL leaves behind: nothing after this point runs."""


@dataclasses.dataclass
class Task:
    """One publish task called as the core calls it: ``commits`` is every state the plugin committed."""

    ctx: TaskContext
    commits: list

    def after_crash(self):
        """The context the next worker gets after this one died: only what was committed survives."""
        committed = dict(self.commits[-1]) if self.commits else {}
        return dataclasses.replace(self.ctx, state=committed, attempt=self.ctx.attempt + 1)


def task(mastodon, clock, *, caption="Hello fediverse", media=(), options=None, die_after=None):
    """A task of alice's on ``mastodon``; ``die_after(state)`` true makes that commit the worker's last act."""
    commits = []

    def saver(values):
        commits.append(dict(values))
        if die_after and die_after(values):
            raise WorkerDied

    account = AccountRef(id="acc_1", platform="mastodon", external_id=ALICE["id"], username="alice",
                         token=ALICE_TOKEN, settings={"server": mastodon.url})
    post = PostRef(id=1, caption=caption, post_type="post", media=tuple(media), options=options or {})
    ctx = TaskContext(task_id="7", post=post, account=account, clock=clock, _saver=saver,
                      config=Config().with_settings(mastodon_allow_private=True))
    return Task(ctx, commits)
