"""D7 marketing content links: the URL pattern, the path pattern and the asset key."""

from __future__ import annotations

import pytest

from kpi.config import KpiConfig
from kpi.content import content_assets
from kpi.rows import extract_urls


@pytest.mark.parametrize(
    ("url", "asset"),
    [
        ("https://acme.com/ebook/sales", "acme.com/ebook/sales"),
        ("https://acme.com/ebooks/sales", "acme.com/ebooks/sales"),
        ("https://acme.com/e-book/sales", "acme.com/e-book/sales"),
        ("https://acme.com/e-books", "acme.com/e-books"),
        ("https://acme.com/whitepaper/x", "acme.com/whitepaper/x"),
        ("https://acme.com/white-papers/x", "acme.com/white-papers/x"),
        ("https://acme.com/case-study/x", "acme.com/case-study/x"),
        ("https://acme.com/casestudy", "acme.com/casestudy"),
        ("https://acme.com/case-studies/x", "acme.com/case-studies/x"),
        ("https://acme.com/guide", "acme.com/guide"),
        ("https://acme.com/guides/", "acme.com/guides"),
        ("https://acme.com/webinar-2026", "acme.com/webinar-2026"),
        ("https://acme.com/webinars/q4", "acme.com/webinars/q4"),
        ("https://acme.com/brochure", "acme.com/brochure"),
        ("https://acme.com/data-sheet/x", "acme.com/data-sheet/x"),
        ("https://acme.com/datasheets/x", "acme.com/datasheets/x"),
        ("https://acme.com/resources/ebook-sales", "acme.com/resources/ebook-sales"),
        ("https://ACME.com/EBooks/Sales/", "acme.com/ebooks/sales"),
        ("https://acme.com/ebook/x?utm_source=mail#top", "acme.com/ebook/x"),
        ("https://user:pw@acme.com:8443/ebook/x", "acme.com/ebook/x"),
        ("http://acme.com/guide", "acme.com/guide"),
    ],
)
def test_content_links(url: str, asset: str, config: KpiConfig) -> None:
    """Matching paths give the asset key: host + path, lower-cased, no query, fragment or trailing slash."""
    assert content_assets((url,), config.content_re) == (asset,)


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.com/",
        "https://acme.com",
        "https://acme.com/pricing",
        "https://acme.com/guidelines",
        "https://acme.com/myguide",
        "https://acme.com/my-guide",
        "https://acme.com/ebookstore",
        "https://acme.com/blog?topic=ebook",
        "https://acme.com/blog#ebook",
        "https://ebook.acme.com/blog",
        "https://acme.com/ebook.pdf",
        "https://[broken/ebook",
    ],
)
def test_non_content_links(url: str, config: KpiConfig) -> None:
    """Paths without a content segment (or unparseable URLs) are not content links."""
    assert content_assets((url,), config.content_re) == ()


def test_same_asset_twice_is_one_key(config: KpiConfig) -> None:
    """Two links to one asset (differing in query) give one key."""
    urls = ("https://acme.com/ebook/x?a=1", "https://acme.com/ebook/x/")
    assert content_assets(urls, config.content_re) == ("acme.com/ebook/x",)


def test_content_pattern_is_configurable() -> None:
    """A custom content_path_pattern replaces the default."""
    config = KpiConfig(content_path_pattern=r"(^|/)playbooks?(/|$)")
    assert content_assets(("https://a.io/playbook", "https://a.io/ebook"), config.content_re) == ("a.io/playbook",)


@pytest.mark.parametrize(
    ("html", "text", "urls"),
    [
        ('<a href="https://a.io/ebook">x</a>', None, ("https://a.io/ebook",)),
        ("<a href='https://a.io/x'>", "see http://b.io/y now", ("https://a.io/x", "http://b.io/y")),
        ("<p>https://a.io/x</p>", "https://a.io/x", ("https://a.io/x",)),
        (None, None, ()),
        ("", "ftp://a.io/x and mailto:x@y.z", ()),
    ],
    ids=["href", "html-and-text", "once", "nothing", "other-schemes"],
)
def test_extract_urls(html: str | None, text: str | None, urls: tuple[str, ...]) -> None:
    """The spec's pattern https?://[^\\s"'<>]+ over HTML then text, each URL once."""
    assert extract_urls(html, text) == urls
