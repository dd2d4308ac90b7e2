"""HTML to PDF with WeasyPrint: a paged document whose Japanese text is set in the fonts
fontconfig finds (Debian's fonts-noto-cjk) and embedded as subsets. The report's HTML carries
everything inline (styles, charts as data: URIs); WeasyPrint fetches nothing else."""

from __future__ import annotations

import logging

# WeasyPrint logs each step of every document at INFO ("Step 5 - Creating layout - Page 3").
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def html_to_pdf(html: str) -> bytes:
    # Imported on first use: about a second, and it needs Pango (apt: libpango-1.0-0).
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Only data: URIs (the charts), never a file or a URL: the HTML contains text people
    # wrote, and a renderer that follows links could read the server's files.
    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    return HTML(string=html, url_fetcher=fetcher, base_url="about:blank").write_pdf()
