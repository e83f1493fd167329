"""Great Expectations' Data Docs that work with no internet: the scripts, styles, fonts and
logos its pages load from CDNs are copied into the site (`static/vendor/`) and every page is
rewritten to load them from there.

The assets come from the npm registry at set-up (`make install`: `npm ci` in
`validation/assets/`, exact versions in its package-lock.json; GX's own CDN versions, but
popper.js 1.16.1 for 1.12.9, the one bootstrap 4.3.1's package accepts). Without them the site
is left as GX wrote it, with a warning: the pages then need the internet, as before.
Idempotent: a page already rewritten has nothing left to rewrite.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

# installed by `make install` beside their package.json; the image sets the variable
ASSETS = Path(os.environ.get("EDUHUB_DATA_DOCS_ASSETS",
                             Path(__file__).parent / "assets" / "node_modules"))
VENDOR = Path("static") / "vendor"
LOGO = Path("static") / "images" / "logo-long.png"  # GX ships it in the site

# what a page loads (URL, up to the query string) -> the file of the npm package that is it
CDN = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        "bootstrap/dist/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        "popper.js/dist/umd/popper.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# the fonts font-awesome's stylesheet loads (url(../webfonts/...))
FONTS = "@fortawesome/fontawesome-free/webfonts"
# GX's logos on S3, with a query string naming the build and the data context
LOGOS = re.compile(r"https://great-expectations-web-assets\.s3[.\w-]*\.amazonaws\.com/[\w.-]+"
                   r"(\?[^\"')\s]*)?")
LOADED = re.compile(r"""((?:src|href)=["']|url\(['"]?)(https?://[^"')\s]+)""")
# what a browser fetches by itself: scripts, images, frames, stylesheets, CSS urls (not links)
FETCHED = re.compile(r"""<(?:script|img|iframe|link|source)\b[^>]*?\b(?:src|href)=["'](https?://[^"']+)"""
                     r"""|url\(['"]?(https?://[^"')\s]+)""", re.IGNORECASE)


def copy_assets(site: Path) -> bool:
    """The vendored files into the site; False when they were never installed."""
    if not all((ASSETS / path).exists() for path in CDN.values()):
        return False
    vendor = site / VENDOR
    for path in set(CDN.values()):
        target = vendor / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ASSETS / path, target)
    shutil.copytree(ASSETS / FONTS, vendor / FONTS, dirs_exist_ok=True)
    return True


def rewrite_page(html: str, to_site: str) -> str:
    """Every asset URL of a page made relative (`to_site`: the page's way up to the site's
    root); anchors to other sites stay links."""
    html = LOGOS.sub(to_site + LOGO.as_posix(), html)

    def local(match: re.Match) -> str:
        prefix, url = match.groups()
        path = CDN.get(url)
        return prefix + (to_site + (VENDOR / path).as_posix() if path else url)

    return LOADED.sub(local, html)


def make_offline(site: Path) -> int:
    """Copy the assets into the site and rewrite its pages; returns the pages rewritten."""
    site = Path(site)
    if not copy_assets(site):
        log.warning("Data Docs in %s load their scripts and styles from the internet: the "
                    "offline assets are not installed (make install: npm ci in %s)", site,
                    ASSETS.parent)
        return 0
    rewritten = 0
    for page in site.rglob("*.html"):
        to_site = os.path.relpath(site, page.parent).replace(os.sep, "/") + "/"
        to_site = "" if to_site == "./" else to_site
        html = page.read_text(encoding="utf-8")
        offline = rewrite_page(html, to_site)
        if offline != html:
            page.write_text(offline, encoding="utf-8")
            rewritten += 1
    return rewritten


def remote_loads(site: Path) -> list[tuple[str, str]]:
    """(page, URL) of every asset a page of the site still loads from elsewhere."""
    found = []
    for page in Path(site).rglob("*.html"):
        for tag_url, css_url in FETCHED.findall(page.read_text(encoding="utf-8")):
            found.append((page.relative_to(site).as_posix(), tag_url or css_url))
    return found
