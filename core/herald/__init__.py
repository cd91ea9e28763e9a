"""Herald: a self-hosted, plugin-based engine for social-media publishing and content intelligence."""

from .errors import HeraldError
from .hookspecs import hookimpl
from .outcomes import Action, Generation, PublishOutcome, Score

__all__ = ["Action", "Generation", "HeraldError", "PublishOutcome", "Score", "hookimpl"]
__version__ = "0.1.0"
