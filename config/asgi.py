import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.bodylimit import BodySizeLimitMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402


def websocket_application():
    """Signed-in session required (the consumer refuses anonymous), allowed Origin only.
    The validator reads ALLOWED_HOSTS when built."""
    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


application = ProtocolTypeRouter(
    {
        "http": BodySizeLimitMiddleware(django_asgi_app),
        "websocket": websocket_application(),
    }
)
