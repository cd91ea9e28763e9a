"""``populate-hooks``: the AI writes 20+ opening lines for a client, from its brand voice and the
first lines of its best posts, stored as :class:`~herald.db.models.GeneratedOpener` without duplicates.

The API and the prompt call opening lines "hooks" (the marketing word); in the code they are
openers, since a hook here is a pluggy hook."""

from __future__ import annotations

import hashlib
import re

from .. import ai
from ..db.models import Client, EngagementSnapshot, GeneratedOpener, Post, isoformat, write_transaction
from ..publishing.engagement_figures import latest_by_post
from ..publishing.posts import get_client
from ..runtime import Runtime

FEATURE = "populate_hooks"
STYLES = ("question", "bold_claim", "statistic", "story", "how_to", "list", "contrarian", "curiosity", "mistake",
          "direct_address")
BEST_POSTS = 10
EXTRA = 5  # asked for on top of ``count``, so duplicates of stored openers still leave ``count`` new ones

SYSTEM = ("You are a senior social-media copywriter for an agency. You write scroll-stopping opening lines "
          "(hooks) for Instagram and Facebook posts: one sentence, at most 150 characters, no hashtags, no emoji "
          "at the start, in the client's language and brand voice. Every hook must be different in wording "
          "and idea. Label each hook with its style.")


def openers_schema(count: int) -> dict:
    """The answer's JSON Schema: ``{"hooks": [{"text", "style"}, …]}`` with at least ``count`` opening lines."""
    return {"type": "object", "required": ["hooks"], "properties": {"hooks": {
        "type": "array", "minItems": count, "maxItems": count + 2 * EXTRA,
        "items": {"type": "object", "required": ["text", "style"], "properties": {
            "text": {"type": "string", "minLength": 3, "maxLength": 220},
            "style": {"type": "string", "enum": list(STYLES)}}}}}}


def fingerprint(text: str) -> str:
    """The same for opening lines that differ only in case, spacing and punctuation."""
    normalised = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
    return hashlib.sha256(normalised.encode()).hexdigest()


def engagement_points(snapshot: EngagementSnapshot) -> float:
    """Interactions weighted by effort (a save or share says more than a like), per reach when known."""
    points = snapshot.likes + 2 * snapshot.comments + 3 * snapshot.saves + 3 * snapshot.shares
    return points / snapshot.reach if snapshot.reach else points / 1000


def best_first_lines(client: Client, limit: int = BEST_POSTS) -> list[str]:
    """First caption lines of the client's posts with the highest engagement (posts without any are left out)."""
    posts = {post.id: post for post in Post.select(Post.id, Post.caption).where(Post.client == client.id)}
    latest = latest_by_post(posts)
    ranked = sorted(latest.items(), key=lambda item: engagement_points(item[1]), reverse=True)
    lines = []
    for post_id, _ in ranked:
        first = next((line.strip() for line in posts[post_id].caption.splitlines() if line.strip()), "")
        if first and first not in lines:
            lines.append(first[:220])
        if len(lines) == limit:
            break
    return lines


def build_prompt(client: Client, count: int, best: list[str], existing: list[str]) -> str:
    """The user prompt: the client, its voice, its best openings and the openers it already has."""
    parts = [f"Client: {client.name}",
             f"Brand voice: {client.brand_voice.strip() or 'not described; infer a friendly, professional voice'}"]
    if best:
        parts.append("Opening lines of this client's best-performing posts (most engaging first):\n"
                     + "\n".join(f"- {line}" for line in best))
    if existing:
        parts.append("Hooks already written for this client (do not repeat them):\n"
                     + "\n".join(f"- {line}" for line in existing))
    parts.append(f"Write {count + EXTRA} new hooks for this client, mixing the styles {', '.join(STYLES)}.")
    return "\n\n".join(parts)


def serialize(opener: GeneratedOpener) -> dict:
    """The JSON shape of a stored opener."""
    return {"id": opener.id, "client_id": opener.client_id, "text": opener.text, "style": opener.style,
            "job_id": opener.job_id, "created_at": isoformat(opener.created_at)}


def populate(runtime: Runtime, *, workspace_id: int, job_id: str, client_id: int, count: int) -> dict:
    """Generate and store opening lines for the client (a background job's function); returns the job's result."""
    client = get_client(workspace_id, client_id)
    existing = [row.text for row in GeneratedOpener.select(GeneratedOpener.text)
                .where(GeneratedOpener.client == client.id).order_by(GeneratedOpener.id.desc()).limit(60)]
    prompt = build_prompt(client, count, best_first_lines(client), existing)
    generation = ai.generate(runtime, workspace_id, feature=FEATURE, prompt=prompt, system=SYSTEM,
                             schema=openers_schema(count), client_id=client.id)
    duplicates = 0
    fresh: dict[str, dict] = {}
    with write_transaction():
        known = {row.fingerprint for row in GeneratedOpener.select(GeneratedOpener.fingerprint)
                 .where(GeneratedOpener.client == client.id)}
        for item in generation.data["hooks"]:
            text = " ".join(item["text"].split())
            key = fingerprint(text)
            if key in known or key in fresh:
                duplicates += 1
                continue
            fresh[key] = {"text": text, "style": item["style"]}
        for key, item in fresh.items():  # a concurrent job may store the same wording first: then it is skipped
            (GeneratedOpener.insert(workspace=workspace_id, client=client.id, text=item["text"], style=item["style"],
                                  fingerprint=key, job=job_id, created_at=runtime.clock.now())
             .on_conflict_ignore().execute())
    rows = list(GeneratedOpener.select().where((GeneratedOpener.client == client.id) & (GeneratedOpener.job == job_id)
                                             & GeneratedOpener.fingerprint.in_(list(fresh) or [""]))
                .order_by(GeneratedOpener.id))
    duplicates += len(fresh) - len(rows)
    return {"client_id": client.id, "requested": count, "created": len(rows), "duplicates": duplicates,
            "hooks": [serialize(row) for row in rows],
            "generation": {"provider": generation.provider, "model": generation.model,
                           "input_tokens": generation.input_tokens, "output_tokens": generation.output_tokens}}
