"""Facebook Pages publisher for Herald (Meta Graph API: ``/feed``, ``/photos``, ``/videos``).

This release registers the platform so posts can target ``facebook``; the Graph API calls arrive
with the publishing pipeline.
"""

from herald import hookimpl


class FacebookPlatform:
    """Publishes to a Facebook Page through the Graph API."""

    name = "facebook"
    post_types = ("post", "reel", "story")

    def publish(self, task_context):
        """Publish one post to one Page (not implemented yet)."""
        raise NotImplementedError("Publishing to Facebook is not implemented yet in herald-facebook 0.1.")


@hookimpl
def register_platforms(register):
    """Provide the ``facebook`` platform."""
    register(FacebookPlatform())
