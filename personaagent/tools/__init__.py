"""The personalized action space: the user's history, profile and knowledge, and the web."""

from .personal import HISTORY_TOOL, make_personal_tools
from .web import network_available, search_wikipedia

__all__ = ["HISTORY_TOOL", "make_personal_tools", "network_available", "search_wikipedia"]
