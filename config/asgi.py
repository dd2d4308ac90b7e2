import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# PostgreSQL through a bounded pool per server process, not a connection per request thread
# (config/settings/base.py). Only for this process: processes it starts (none in production;
# Celery workers in tests) keep Django's own connections, which survive a fork.
_pool_set = "HONBU_DB_POOL" not in os.environ
if _pool_set:
    os.environ["HONBU_DB_POOL"] = "1"
django_asgi_app = get_asgi_application()  # before importing anything that touches models
if _pool_set:
    del os.environ["HONBU_DB_POOL"]

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.bodylimit import BodySizeLimitMiddleware  # noqa: E402
from config.gcsweep import GarbageSweep, SweepAfterSockets  # noqa: E402
from config.lean import LeanRouter  # noqa: E402
from config.ws_transport import WebsocketTransportMiddleware  # noqa: E402
from realtime.auth import SocketAuthMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402


def websocket_application(sweep: GarbageSweep | None = None):
    """Signed-in session required (the consumer refuses anonymous), allowed Origin only.
    The validator reads ALLOWED_HOSTS when built. realtime's own auth middleware instead of
    channels' AuthMiddlewareStack: session, user and the apps' connect queries in one hop on
    the thread pool, not a queue on one thread (realtime/auth.py, issue 14). The server's
    transport is offered to the sockets' send queues (config/ws_transport.py). Ended sockets
    are counted for the garbage sweep (config/gcsweep.py): the process's own unless ``sweep``."""
    return SweepAfterSockets(
        WebsocketTransportMiddleware(
            AllowedHostsOriginValidator(SocketAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
        sweep or garbage_sweep,
    )


# The answer links (/s/…) through a short middleware chain in one thread hop (config/lean.py);
# HONBU_LEAN_PATH=0 serves them through the full handler like every other page.
http_application = (
    LeanRouter(django_asgi_app)
    if os.environ.get("HONBU_LEAN_PATH", "1") != "0"
    else django_asgi_app
)
garbage_sweep = GarbageSweep()  # one per server process

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimitMiddleware(http_application),
        "websocket": websocket_application(),
    }
)

# Garbage collection for a process holding thousands of sockets (issue 14, bench/ack_burst.py):
# with Python's default thresholds a young-generation collection runs every 700 allocations, and
# py-spy put most of a 了解 burst's CPU at allocation sites of the frame path, i.e. in the
# collector; these settings took the server CPU of a 了解 at 2,000 members from 0.38 to 0.15 ms.
# What was loaded at start-up (Django, the apps) is frozen out of every later scan; the older
# generations keep their default ratios, so cycles are still collected — but a full collection
# then comes only after millions of net allocations, in a server holding its sockets practically
# never: the cycles that ended websockets leave behind are swept by garbage_sweep (gcsweep.py).
gc.freeze()
gc.set_threshold(20_000, 20, 10)
