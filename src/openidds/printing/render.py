"""A printed record as HTML (the page the browser shows) and as PDF (WeasyPrint), from the same template.

The templates are web/templates/print/*.html, rendered by the web app's own Jinja environment (its filters are the
one display policy: volumes to 0.1 mL, doses to 3 significant figures, instants on the patient's or the clinic's
wall clock). For the PDF the page is laid out by WeasyPrint with web/static/print.css: @page margins, the patient's
identifiers at the top of every page, the page number and "Not a certified medical device" (and "DEMO DATA") at
the bottom. Nothing is fetched from a network: the fetcher reads the package's static files and data: URIs only,
and refuses anything else (a refused fetch stops the rendering: a record is never printed without its style).
Fonts are the system's (fontconfig: DejaVu on Debian), embedded in the PDF.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote, urlparse

from weasyprint import CSS, HTML  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher, URLFetcherResponse  # type: ignore[import-untyped]

from openidds.errors import InputError

Paper = Literal["a4", "letter"]
PAPERS: Final[dict[str, str]] = {"a4": "A4", "letter": "Letter"}
STATIC: Final = Path(str(resources.files("openidds.web").joinpath("static"))).resolve()
TYPES: Final = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


def paper(value: str | None) -> Paper:
    """'a4' (the default) or 'letter'; anything else is refused naming the field."""
    chosen = (value or "a4").strip().lower()
    if chosen not in PAPERS:
        raise InputError("paper", f"expected 'a4' or 'letter', got {value!r}")
    return chosen  # type: ignore[return-value]


class LocalOnly(URLFetcher):  # type: ignore[misc]
    """Reads the package's static files and data: URIs; refuses every other URL (no network, no other file)."""

    def __init__(self) -> None:
        super().__init__(timeout=1, allowed_protocols=("file", "data"), allow_redirects=False, fail_on_errors=True)

    def fetch(self, url: str, headers: Any = None) -> Any:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        parsed = urlparse(url)
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path)).resolve()
            if path.is_relative_to(STATIC) and path.is_file():
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": TYPES.get(path.suffix, "")})
        raise ValueError(f"printing fetches nothing but its own static files: refused {url!r}")


def context(pdf: bool, **values: Any) -> dict[str, Any]:
    """What every print template reads: whether it is the PDF (no toolbar), and where its stylesheet is."""
    return {"pdf": pdf, "static_url": "" if pdf else "/static/", **values}


def html_for(template: str, **values: Any) -> str:
    from openidds.web.session import templates  # the web's environment, filters and all

    return templates.get_template(template).render(**context(True, **values))


def pdf_from_html(html: str, size: Paper = "a4") -> bytes:
    """The PDF of a print page rendered for print (`html_for`): its stylesheet and images from STATIC only."""
    page = CSS(string=f"@page {{ size: {PAPERS[size]}; }}")
    document = HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=LocalOnly())
    pdf: bytes = document.write_pdf(stylesheets=[page])
    return pdf


def pdf(template: str, size: Paper = "a4", **values: Any) -> bytes:
    """A print template as PDF bytes."""
    return pdf_from_html(html_for(template, **values), size)
