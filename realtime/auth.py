"""Who is on a websocket: the signed-in session, its user, and what the apps load for a socket,
in one trip to the database (docs/event-flow.md, "A connect").

channels' ``AuthMiddlewareStack`` loads the session and the user on the one "thread-sensitive"
thread, so every connect of a server process queued behind the others on one thread (a
reconnect storm of 2,000 phones took a minute, bench/connect_storm.py), and each app's socket
hook then made a hop of its own for its own query. Here one hop on the thread pool does it all:
the session row, the user (Django's ``get_user``, step for step: the session's auth hash is
verified, also against ``SECRET_KEY_FALLBACKS``), and every app's ``SocketHooks.load(user)``,
whose results the consumer hands to the app's ``connect``. Nothing is cached between
connects: a signed-out session or a removed member is refused or left out at the very next
connect.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    _get_user_session_key,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from . import registry
from .db import database_sync_to_async

PRELOADED = "honbu.preloaded"  # scope key: {app: what its SocketHooks.load returned}


def _session_key(scope: dict) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            from django.http import parse_cookie

            return parse_cookie(value.decode("latin1")).get(settings.SESSION_COOKIE_NAME)
    return None


@functools.cache
def _store_class() -> type:
    """The configured session store; the database one reads its row with SQL the ORM compiled
    once (compiling the lookup was most of the session's cost at every connect)."""
    base = import_module(settings.SESSION_ENGINE).SessionStore
    if not issubclass(base, DbSessionStore) or (
        base._get_session_from_db is not DbSessionStore._get_session_from_db
    ):
        return base

    class SocketSessionStore(base):
        @property
        def key_salt(self) -> str:  # the salt is named after the class: the configured one's
            return base().key_salt

        def _get_session_from_db(self):
            """Django's own lookup (the key, not expired), without compiling it each time."""
            rows = []
            if self.session_key is not None:
                now = connection.ops.adapt_datetimefield_value(timezone.now())
                rows = list(
                    self.model.objects.raw(_session_sql(self.model), [self.session_key, now])
                )
            if not rows:
                self._session_key = None
                return None
            return rows[0]

    return SocketSessionStore


@functools.cache
def _session_sql(model) -> str:
    key, moment = "honbu-stand-in-key", datetime(2001, 2, 3, tzinfo=UTC)
    qs = model.objects.filter(session_key=key).filter(expire_date__gt=moment)
    sql, params = qs.query.sql_with_params()
    if list(params) != [key, connection.ops.adapt_datetimefield_value(moment)]:
        raise RuntimeError(f"the session query has parameters {params}")
    return sql


@functools.cache
def _user_sql() -> str:
    model = get_user_model()
    sql, params = model._default_manager.filter(pk=987_654_301).query.sql_with_params()
    if list(params) != [987_654_301]:
        raise RuntimeError(f"the user query has parameters {params}")
    return sql


def _session_user(store) -> Any:
    """Django's ``auth.get_user`` (5.2) for a socket, step for step: the session's backend must
    be configured, the backend's user must be allowed to sign in, and the session's auth hash
    must match the user's (or one made with a fallback secret, then the session moves to the
    current one), else the session is flushed. The one difference: for ``ModelBackend``'s own
    lookup the user's row is read with SQL compiled once per process; compiling ``get(pk=…)``
    was a tenth of a connect's CPU (py-spy, bench/connect_storm.py)."""
    try:
        user_id = _get_user_session_key(SimpleNamespace(session=store))
        backend_path = store[BACKEND_SESSION_KEY]
    except KeyError:
        return AnonymousUser()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    backend = load_backend(backend_path)
    if type(backend).get_user is ModelBackend.get_user:
        found = list(get_user_model()._default_manager.raw(_user_sql(), [user_id]))
        user = found[0] if found and backend.user_can_authenticate(found[0]) else None
    else:
        user = backend.get_user(user_id)
    if hasattr(user, "get_session_auth_hash"):
        session_hash = store.get(HASH_SESSION_KEY)
        if not session_hash:
            verified = False
        else:
            session_auth_hash = user.get_session_auth_hash()
            verified = constant_time_compare(session_hash, session_auth_hash)
        if not verified:
            if session_hash and any(
                constant_time_compare(session_hash, fallback)
                for fallback in user.get_session_auth_fallback_hash()
            ):
                store.cycle_key()
                store[HASH_SESSION_KEY] = session_auth_hash
            else:
                store.flush()
                user = None
    return user or AnonymousUser()


def identify(session_key: str | None) -> tuple[Any, Any, dict[str, Any]]:
    """(session, user, preloaded) for a session key, synchronously: the session row, the user
    and, for an active signed-in user, each app's ``load(user)``."""
    store = _store_class()(session_key)
    user = _session_user(store) if session_key else AnonymousUser()
    preloaded: dict[str, Any] = {}
    if user.is_authenticated and user.is_active:
        for hooks in registry.sockets():
            if hooks.load is not None:
                preloaded[hooks.app] = hooks.load(user)
    return store, user, preloaded


_identify = database_sync_to_async(identify)


class SocketAuthMiddleware:
    """Sets ``scope["session"]``, ``scope["user"]`` and the apps' preloaded data. The consumer
    refuses anyone not signed in (4401)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        session, user, preloaded = await _identify(_session_key(scope))
        scope = dict(scope, session=session, user=user)
        scope[PRELOADED] = preloaded
        return await self.inner(scope, receive, send)
