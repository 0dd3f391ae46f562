"""The HTML productpage serves, in the markup of Istio's Bootstrap-era template.

Tasks and tests read this page by its markup: ``<font color="black">`` or ``"red"`` around
``glyphicon-star`` spans for rated reviews, none for reviews v1, "Sign in" or the user's name in
the navigation bar. Upstream values are escaped; only the catalogue's own description is HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

MAX_STARS = 5

# No Bootstrap assets are served, so the glyphs come from Unicode stars. The selectors avoid the
# glyph class names so that counting them in the page counts stars only.
_STYLE = """<style>
body { font-family: sans-serif; margin: 0; }
nav { background: #222; color: #eee; padding: 10px 20px; display: flex;
      justify-content: space-between; align-items: center; }
nav a { color: #9cf; }
.container-fluid { padding: 0 20px; }
.row { display: flex; flex-wrap: wrap; }
.col-md-6 { flex: 1 1 45%; padding-right: 20px; }
.text-center { text-align: center; }
.text-primary { color: #337ab7; }
blockquote { border-left: 5px solid #eee; margin: 0 0 20px; padding: 10px 20px; }
span.glyphicon::before { content: "\\2605"; }
span.glyphicon[class$="-empty"]::before { content: "\\2606"; }
</style>"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{escape(title)}</title>\n{_STYLE}\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _navigation(user: str) -> str:
    if user:
        account = (
            '<p class="navbar-text navbar-right">\n'
            '  <i class="glyphicon glyphicon-user" aria-hidden="true"></i>\n'
            f'  <span style="padding-left: 5px;">{escape(user)} '
            '( <a href="logout">sign out</a> )</span>\n</p>\n'
        )
    else:
        # A plain form, so signing in works without Bootstrap's modal script.
        account = (
            '<details class="navbar-right">\n'
            '  <summary class="btn btn-default navbar-btn">Sign in</summary>\n'
            '  <form method="post" action=\'login\' name="login_form">\n'
            '    <p><input type="text" name="username" id="username" placeholder="User Name"></p>\n'
            '    <p><input type="password" name="passwd" placeholder="Password"></p>\n'
            '    <p><button type="submit" class="btn btn-primary">Sign in</button></p>\n'
            "  </form>\n</details>\n"
        )
    return (
        '<nav class="navbar navbar-inverse navbar-static-top">\n'
        '<a class="navbar-brand" href="#">BookInfo Sample</a>\n'
        f"{account}</nav>\n"
    )


def _details_section(status: int, details: Mapping[str, Any]) -> str:
    if status != 200:
        return (
            '<h4 class="text-center text-primary">Error fetching product details!</h4>\n'
            f"<p>{escape(str(details.get('error', '')))}</p>\n"
        )
    rows = "".join(
        f"  <dt>{label}:</dt>{escape(str(details.get(field, '')))}\n"
        for label, field in (
            ("Type", "type"),
            ("Pages", "pages"),
            ("Publisher", "publisher"),
            ("Language", "language"),
            ("ISBN-10", "ISBN-10"),
            ("ISBN-13", "ISBN-13"),
        )
    )
    return f'<h4 class="text-center text-primary">Book Details</h4>\n<dl>\n{rows}</dl>\n'


def _rating(rating: Any) -> str:
    if not isinstance(rating, Mapping):
        return ""
    stars = rating.get("stars")
    if isinstance(stars, int) and not isinstance(stars, bool) and stars > 0:
        full = min(stars, MAX_STARS)
        return (
            f'<font color="{escape(str(rating.get("color", "black")))}">\n'
            + '  <span class="glyphicon glyphicon-star"></span>\n' * full
            + '  <span class="glyphicon glyphicon-star-empty"></span>\n' * (MAX_STARS - full)
            + "</font>\n"
        )
    if rating.get("error"):
        return f"<p><i>{escape(str(rating['error']))}</i></p>\n"
    return ""


def _reviews_section(status: int, reviews: Mapping[str, Any]) -> str:
    if status != 200:
        return (
            '<h4 class="text-center text-primary">Error fetching product reviews!</h4>\n'
            f"<p>{escape(str(reviews.get('error', '')))}</p>\n"
        )
    quotes = []
    entries = reviews.get("reviews")
    for review in entries if isinstance(entries, list) else []:
        if not isinstance(review, Mapping):
            continue
        quotes.append(
            "<blockquote>\n"
            f"<p>{escape(str(review.get('text', '')))}</p>\n"
            f"<small>{escape(str(review.get('reviewer', '')))}</small>\n"
            f"{_rating(review.get('rating'))}"
            "</blockquote>\n"
        )
    served_by = f"<u>{escape(str(reviews.get('podname', '')))}</u>"
    cluster = reviews.get("clustername")
    if cluster and cluster != "null":
        served_by += f" on cluster <u>{escape(str(cluster))}</u>"
    return (
        '<h4 class="text-center text-primary">Book Reviews</h4>\n'
        + "".join(quotes)
        + f"<dl>\n<dt>Reviews served by:</dt>\n{served_by}\n</dl>\n"
    )


def render_product_page(
    *,
    product: Mapping[str, Any],
    user: str,
    details_status: int,
    details: Mapping[str, Any],
    reviews_status: int,
    reviews: Mapping[str, Any],
) -> str:
    body = (
        _navigation(user)
        + '<div class="container-fluid">\n<div class="row">\n<div class="col-md-12">\n'
        + f'<h3 class="text-center text-primary">{escape(str(product["title"]))}</h3>\n'
        + f"<p>Summary: {product['descriptionHtml']}</p>\n"
        + '</div>\n</div>\n<div class="row">\n<div class="col-md-6">\n'
        + _details_section(details_status, details)
        + '</div>\n<div class="col-md-6">\n'
        + _reviews_section(reviews_status, reviews)
        + "</div>\n</div>\n</div>\n"
    )
    return _page("Simple Bookstore App", body)


def render_index(services: Sequence[tuple[str, str, str]]) -> str:
    """The landing page: the services productpage calls, as (service, URL, endpoint) rows."""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(url)}</td><td>{escape(endpoint)}</td></tr>\n"
        for name, url, endpoint in services
    )
    body = (
        '<div class="container-fluid">\n'
        "<h3>Hello! This is a simple bookstore application consisting of three services "
        "as shown below</h3>\n"
        '<table class="table table-condensed table-bordered table-hover">\n'
        "<tr><th>service</th><th>name</th><th>endpoint</th></tr>\n"
        f"{rows}</table>\n"
        "<p>Click on one of the links below to auto generate a request to the backend as a "
        "real user or a tester</p>\n"
        '<p><a href="/productpage?u=normal">Normal user</a></p>\n'
        '<p><a href="/productpage?u=test">Test user</a></p>\n'
        "</div>\n"
    )
    return _page("Simple Bookstore App", body)
