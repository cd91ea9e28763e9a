"""Instagram publisher for Herald (Meta Graph API, content-publishing container flow).

This release registers the platform so posts can target ``instagram``; the Graph API flow
(containers, status checks, publishing quota) arrives with the publishing pipeline.
"""

from herald import hookimpl


class InstagramPlatform:
    """Publishes to an Instagram professional account through the Graph API."""

    name = "instagram"
    post_types = ("post", "reel", "carousel", "story")

    def publish(self, task_context):
        """Publish one post to one account (not implemented yet)."""
        raise NotImplementedError("Publishing to Instagram is not implemented yet in herald-instagram 0.1.")


@hookimpl
def register_platforms(register):
    """Provide the ``instagram`` platform."""
    register(InstagramPlatform())
