from functools import cache

from django.conf import settings


@cache
def js_catalog_version() -> str:
    """Changes when the compiled JavaScript catalogues change, so browsers and the cache can
    keep /jsi18n/ (loaded by every page) until a deploy brings new strings."""
    stamps = [
        p.stat().st_mtime_ns for p in settings.BASE_DIR.glob("locale/*/LC_MESSAGES/djangojs.mo")
    ]
    return str(max(stamps, default=0))


def honbu(request):
    return {
        "HONBU_SITE_NAME": settings.HONBU_SITE_NAME,
        "JS_CATALOG_VERSION": js_catalog_version(),
        "WS_HEARTBEAT_SECONDS": settings.HONBU_WS_HEARTBEAT_SECONDS,
    }
