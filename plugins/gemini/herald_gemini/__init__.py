"""Gemini AI provider for Herald (``generateContent``).

This release registers the provider; the API calls arrive with the intelligence features.
"""

from herald import hookimpl


class GeminiProvider:
    """Generates text and structured JSON with Google's Gemini API."""

    name = "gemini"

    def generate(self, prompt, *, system=None, schema=None, settings=None):
        """Generate text for ``prompt`` (not implemented yet)."""
        raise NotImplementedError("Generation with Gemini is not implemented yet in herald-gemini 0.1.")


@hookimpl
def register_ai_providers(register):
    """Provide the ``gemini`` AI provider."""
    register(GeminiProvider())
