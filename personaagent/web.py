"""Wikipedia search, used only when the network reaches Wikipedia (``network_available``)."""

from __future__ import annotations

import html
import re
import socket
import time

import httpx

from . import environment

WIKIPEDIA_HOST = "en.wikipedia.org"
_checked: dict[str, tuple[float, bool]] = {}


def network_available(host: str = WIKIPEDIA_HOST, ttl_s: float = 600.0) -> bool:
    """Whether ``host`` accepts a TCP connection (checked at most once per ``ttl_s``).
    ``PERSONAAGENT_WEB_SEARCH=0`` turns web search off without checking."""
    if environment.value("PERSONAAGENT_WEB_SEARCH") == "0":
        return False
    now = time.monotonic()
    if host in _checked and now - _checked[host][0] < ttl_s:
        return _checked[host][1]
    try:
        socket.create_connection((host, 443), timeout=1.5).close()
        ok = True
    except OSError:
        ok = False
    _checked[host] = (now, ok)
    return ok


def wikipedia(query: str) -> str:
    """Titles and snippets of Wikipedia's top 3 results for ``query``, one per line."""
    response = httpx.get(
        f"https://{WIKIPEDIA_HOST}/w/api.php",
        params={"action": "query", "list": "search", "srsearch": query, "srlimit": 3, "format": "json"},
        headers={"User-Agent": "personaagent/0.1"},
        timeout=10.0,
    )
    response.raise_for_status()
    hits = response.json().get("query", {}).get("search", [])
    lines = [f"- {h['title']}: {html.unescape(re.sub(r'<[^>]+>', '', h.get('snippet', '')))}" for h in hits]
    return "\n".join(lines) or "(no results)"
