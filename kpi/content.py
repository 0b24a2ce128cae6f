"""D7: marketing content links in sales emails, and the asset key that identifies a shared asset."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def content_assets(urls: tuple[str, ...], content_re: re.Pattern[str]) -> tuple[str, ...]:
    """The asset keys (host + path) of the URLs whose lower-cased path matches `content_re`, each once.

    The path is matched with `re.search`, so the pattern's own anchors (`(^|/)` ... `(/|-|$)`) decide segment
    boundaries. The asset key is the lower-cased host name (without user info or port) joined to the lower-cased
    path, without query, fragment or trailing slash. A URL that cannot be parsed (for example a broken IPv6 host)
    is ignored. Characters the spec's URL pattern lets through stay part of the path (a sentence's full stop
    right after a link in a text body is therefore part of it), as the spec's pattern says.
    """
    keys: dict[str, None] = {}
    for url in urls:
        key = _asset_key(url, content_re)
        if key is not None:
            keys[key] = None
    return tuple(keys)


def _asset_key(url: str, content_re: re.Pattern[str]) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    path = parts.path.lower()
    if content_re.search(path) is None:
        return None
    return host + path.rstrip("/")
