"""The MCP server: Herald's tools and resources, each one request (or two) of Herald's API.

Nothing here decides anything the API decides: a tool shapes its arguments into the API's request,
sends it with the caller's key (:func:`herald_mcp.caller.call`) and answers the API's body. The one
rule of the plugin's own is the dry run before publishing: ``publish_post`` dry-runs by default and
publishes only with the ``confirm`` value of a dry run of the very same request, so the assistant
has seen the post, its tasks and its warnings before anything goes out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Annotated, Any, Literal
from urllib.parse import quote

from mcp.server import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from .caller import CALLER, ResourceError, ToolError, call, read
from .settings import RECENT_POSTS

INSTRUCTIONS = """Herald publishes social-media posts for an agency's clients. Typical flow: list_clients and
list_accounts; create_draft (or score_caption first); request_approval when the client must approve; then
publish_post, which always dry-runs first: show the user the dry run's post, tasks and warnings, and only
then call publish_post again with dry_run=false and the dry run's confirm value. get_post follows a post's
status on each account. Errors are Herald's API errors as JSON: {"status", "error": {"code", "message",
"field"}}."""

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

ClientId = Annotated[int, Field(ge=1, description="A client's id, as list_clients shows it.", examples=[3])]
PostId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^(post_)?[1-9][0-9]{0,17}$",
                              description="A post's id: post_42 (or 42).", examples=["post_42"])]
Platforms = Annotated[list[str] | None, Field(description="Platform names the post is meant for.",
                                              examples=[["instagram", "facebook"]])]
PostType = Annotated[Literal["post", "reel", "carousel", "story"] | None,
                     Field(description="The kind of post (default: post).")]
Media = Annotated[list[str] | None, Field(description="Media ids (media_7) uploaded with POST /api/media, or "
                                                      "http(s) URLs of images and videos Herald downloads.",
                                          examples=[["media_7"]])]


def post_path(post_id: str, tail: str = "") -> str:
    """``/v1/posts/<post_id><tail>``, the id quoted (it is the caller's text)."""
    return f"/v1/posts/{quote(post_id, safe='')}{tail}"


def post_number(post_id: str) -> str:
    """``42`` for ``post_42``: the action endpoint takes numeric post ids."""
    return post_id.removeprefix("post_")


def confirmation(request: dict[str, Any]) -> str:
    """The ``confirm`` value of a dry run of ``request`` (a publish body without ``dry_run``): the same
    request gives the same value, any change another."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return "dry_" + hashlib.sha256(text.encode()).hexdigest()[:20]


def given(**values: Any) -> dict[str, Any]:
    """The arguments that were given (None: left out)."""
    return {name: value for name, value in values.items() if value is not None}


def list_clients(limit: Annotated[int, Field(ge=1, le=200, description="How many clients (1-200).")] = 50,
                 offset: Annotated[int, Field(ge=0, description="How many to skip.")] = 0) -> dict[str, Any]:
    """List the workspace's clients (id, name, brand voice, time zone), oldest first (GET /api/clients)."""
    return call("GET", "/api/clients", query={"limit": limit, "offset": offset})


def list_accounts() -> dict[str, Any]:
    """List the connected social accounts (acc_ ids, platform, username, status) a post can go to
    (GET /v1/accounts)."""
    return call("GET", "/v1/accounts")


def create_draft(client_id: ClientId,
                 caption: Annotated[str | None, Field(max_length=2200, description="The post's text.",
                                                      examples=["Fresh sourdough from 7am #bakery"])] = None,
                 topic: Annotated[str | None, Field(max_length=500, description="What the post is about.",
                                                    examples=["Autumn menu"])] = None,
                 platforms: Platforms = None, post_type: PostType = None, media: Media = None,
                 campaign_id: Annotated[int | None, Field(ge=1, description="A campaign of the client.")] = None,
                 ) -> dict[str, Any]:
    """Create a draft post for a client (give a caption, a topic, or both). Nothing is published: the
    draft is published later with publish_post (post_id), or sent for approval with request_approval.
    Answers the draft with its numeric id (use post_<id> elsewhere)."""
    body = given(action="create_post", client_id=client_id, caption=caption, topic=topic, platforms=platforms,
                 post_type=post_type, media=media, campaign_id=campaign_id)
    return call("POST", "/api/webhooks", body=body)


def update_draft(post_id: PostId,
                 caption: Annotated[str | None, Field(max_length=2200, description="The new text.")] = None,
                 topic: Annotated[str | None, Field(max_length=500, description="The new topic.")] = None,
                 platforms: Platforms = None, post_type: PostType = None, media: Media = None,
                 ) -> dict[str, Any]:
    """Edit a post none of whose tasks has started (a draft, or one waiting in the queue); fields left
    out do not change. Editing an approved draft's content makes it a draft again (a warning says so)."""
    body = given(action="update_post", post_id=post_number(post_id), caption=caption, topic=topic,
                 platforms=platforms, post_type=post_type, media=media)
    return call("POST", "/api/webhooks", body=body)


def score_caption(caption: Annotated[str, Field(min_length=1, max_length=63206, description="The text to score.",
                                                examples=["New menu today! What's your favourite? #food"])],
                  client_id: Annotated[int | None, Field(ge=1, description="Whose engagement history the learned "
                                                                          "scorer uses.")] = None,
                  platforms: Platforms = None, post_type: PostType = None,
                  topic: Annotated[str | None, Field(max_length=500)] = None) -> dict[str, Any]:
    """Score a caption from 0 to 100 with every scoring strategy, with each one's reasons (POST
    /api/intelligence/score). Nothing is stored."""
    return call("POST", "/api/intelligence/score", body=given(caption=caption, client_id=client_id,
                                                              platforms=platforms, post_type=post_type, topic=topic))


def generate_hooks(client_id: ClientId,
                   count: Annotated[int, Field(ge=20, le=50, description="How many hooks (20-50).")] = 20,
                   ) -> dict[str, Any]:
    """Have the workspace's AI provider write hooks (opening lines) for a client, from its brand voice
    and best posts. It runs in the background: answers the job; follow it with get_job (its result
    holds the hooks). Counts against the plan's AI generations."""
    return call("POST", "/api/intelligence/populate-hooks", body={"client_id": client_id, "count": count})


def get_job(job_id: Annotated[int, Field(ge=1, description="The job's id, as generate_hooks answered it.")],
            ) -> dict[str, Any]:
    """A background job's status (queued, running, succeeded with its result, failed with its error)."""
    return call("GET", f"/api/jobs/{job_id}")


def request_approval(post_id: PostId,
                     note: Annotated[str | None, Field(max_length=2000, description="A word for the client.")] = None,
                     ) -> dict[str, Any]:
    """Send a draft (or a rejected post) to the client for approval: it waits in pending_approval and
    the client portal shows it. Answers the post with its tasks."""
    return call("POST", post_path(post_id, "/request-approval"), body=given(note=note))


def publish_post(accounts: Annotated[list[str], Field(min_length=1, max_length=50,
                                                      description="Connected account ids (list_accounts).",
                                                      examples=[["acc_1", "acc_2"]])],
                 post_id: Annotated[str | None, Field(description="A draft to publish (post_42) instead of "
                                                                  "new content.", examples=["post_42"])] = None,
                 content: Annotated[str | None, Field(min_length=1, max_length=63206,
                                                      description="The text, when no post_id is given.")] = None,
                 schedule: Annotated[str, Field(description="'now', an ISO-8601 time (without an offset: the "
                                                            "client's time zone), or 'next_slot': the client's "
                                                            "next free posting slot.",
                                                examples=["now", "2027-03-29T09:00:00+02:00", "next_slot"])] = "now",
                 client_id: Annotated[int | None, Field(ge=1, description="The client (for next_slot, and its "
                                                                          "time zone).")] = None,
                 media: Media = None, post_type: PostType = None,
                 first_comment: Annotated[str | None, Field(min_length=1, max_length=2200,
                                                            description="Posted under each post once live.")] = None,
                 dry_run: Annotated[bool, Field(description="true (the default): check everything and answer "
                                                            "the post, tasks and warnings, creating nothing.")] = True,
                 confirm: Annotated[str | None, Field(description="With dry_run=false: the confirm value of the "
                                                                  "dry run of this same request.")] = None,
                 ) -> dict[str, Any]:
    """Publish or schedule a post to connected accounts (POST /v1/publish), in two steps. First call it
    as it is (dry_run defaults to true): nothing is created, and the answer shows the post, the tasks
    that would be created, their time and the warnings, with a confirm value. Show that to the user;
    then call it again with exactly the same arguments, dry_run=false and that confirm value."""
    request = given(accounts=accounts, post_id=post_id, content=content, schedule=schedule, client_id=client_id,
                    media=media, post_type=post_type, first_comment=first_comment)
    if dry_run:
        answer = call("POST", "/v1/publish", body={**request, "dry_run": True})
        answer["confirm"] = confirmation(request)
        return answer
    if confirm != confirmation(request):
        raise ToolError(json.dumps({"error": {
            "code": "validation_error", "field": "confirm",
            "message": "Dry-run this request first (publish_post with dry_run=true), show the user its post, tasks "
                       "and warnings, then call publish_post with the same arguments, dry_run=false and the dry "
                       "run's confirm value."}}))
    return call("POST", "/v1/publish", body=request)


def get_post(post_id: PostId) -> dict[str, Any]:
    """A post and its tasks: one per account, each with its platform, status (queued, publishing,
    published, failed, unconfirmed, ...), scheduled and published times, the platform's post id and URL,
    and the error of a failed one (GET /v1/posts/{id})."""
    return call("GET", post_path(post_id))


def get_analytics(client_id: Annotated[int | None, Field(ge=1, description="The client (left out: the whole "
                                                                           "workspace).")] = None,
                  period: Annotated[int, Field(ge=1, le=365, description="Days, today included.")] = 30,
                  post_id: Annotated[str | None, Field(description="One post's engagement over time instead "
                                                                   "(post_42).")] = None) -> dict[str, Any]:
    """Engagement totals and rates per platform and account over the last days, and the best weekday
    and hour to post (GET /v1/analytics); with post_id, that post's engagement over time."""
    if post_id is not None:
        return call("GET", post_path(post_id, "/engagement"))
    return call("GET", "/v1/analytics", query={"client_id": client_id, "period": period})


def client_path(client_id: str) -> str:
    """A resource's client id as the API's query value; a refusal when it is not a whole number."""
    if not (client_id.isascii() and client_id.isdigit()):
        raise ResourceError(json.dumps({"error": {"code": "validation_error", "field": "client_id",
                                                  "message": "A client id is a positive whole number."}}))
    return client_id


def brand_memory(client_id: str) -> str:
    """What the client's own posts say about it: voice, topics, hashtags, best days and hours, averages
    (GET /api/intelligence/memory)."""
    return read("/api/intelligence/memory", {"client_id": client_path(client_id)})


def recent_posts(client_id: str) -> str:
    """The client's newest posts with their status, schedule and platforms (GET /v1/posts)."""
    limit = RECENT_POSTS.value(CALLER.get().config)
    return read("/v1/posts", {"client_id": client_path(client_id), "limit": limit})


TOOLS = ((list_clients, READ), (list_accounts, READ), (create_draft, WRITE), (update_draft, WRITE),
         (score_caption, READ), (generate_hooks, WRITE), (get_job, READ), (request_approval, WRITE),
         (publish_post, ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)),
         (get_post, READ), (get_analytics, READ))

_server: MCPServer | None = None
_lock = threading.Lock()


def server() -> MCPServer:
    """The process's MCP server (made once: the tools' schemas are built from their signatures)."""
    global _server
    with _lock:
        if _server is None:
            # The SDK logs each HTTP request's start and end at INFO; Herald's own lines are enough.
            logging.getLogger("mcp").setLevel(logging.WARNING)
            made = MCPServer("herald", instructions=INSTRUCTIONS, log_level="WARNING")
            for function, annotations in TOOLS:
                made.add_tool(function, annotations=annotations)
            made.resource("herald://clients/{client_id}/brand-memory", name="brand-memory",
                          mime_type="application/json")(brand_memory)
            made.resource("herald://clients/{client_id}/recent-posts", name="recent-posts",
                          mime_type="application/json")(recent_posts)
            _server = made
        return _server
