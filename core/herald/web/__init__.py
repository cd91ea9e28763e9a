"""The HTTP side: the Flask application, its blueprints (``api``), auth, rate limits, idempotency and serving."""
