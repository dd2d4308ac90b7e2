"""Sign-in throttling (issue 13, item 3), after OWASP's guidance: wrong passwords and codes slow
the guesser down with growing delays; nobody can lock somebody else out.

A hard lock per account let anyone keep the mayor (employee number 000001) out during a
disaster with five wrong passwords a few minutes apart. Instead every attempt is counted under
several keys, each with some free failures and then a delay that doubles up to a cap:

- **pair**: this account from this client address — the guesser's own address slows down;
- **device**: this account from a browser it signed in on before (a signed "device cookie");
  such attempts count only here, so the owner's own phone is never slowed by anyone else;
- **account**: this account from every other browser — a ceiling against guessing from many
  addresses, whose delay is capped low (a minute) so the owner on a new phone still gets in;
- **address**: this client address against every account — password spraying.

The client address is the real one only behind trusted proxies (``TrustedProxyMiddleware``).
An attempt is counted before the password is checked (so parallel guesses cannot slip past the
count) and given back when it succeeds. With Redis away, sign-in is allowed: a disaster is when
servers restart, and the password is still checked.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import ngettext

log = logging.getLogger(__name__)

DEVICE_COOKIE = "honbu_device"
DEVICE_SALT = "honbu.signin.device"
DEVICE_MAX_AGE = 400 * 24 * 3600  # browsers keep cookies at most 400 days


@dataclass(frozen=True)
class Rule:
    name: str
    free: int  # failures before any delay
    cap: int  # the longest delay, seconds
    window: int = 3600  # failures are forgotten this long after the last attempt


PAIR = Rule("pair", free=5, cap=300)
DEVICE = Rule("device", free=10, cap=60)
ACCOUNT = Rule("account", free=50, cap=60)
ADDRESS = Rule("address", free=100, cap=300)

# Atomic over every key of one attempt: refuse if any key is still waiting (and count nothing),
# else count the attempt under each key and set the next allowed time of those past their free
# failures. KEYS: the state hashes; ARGV: now, then free, cap, window per key.
_CONSUME = """
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local until_ = tonumber(redis.call('HGET', key, 'until') or '0')
  if until_ - now > wait then wait = until_ - now end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[i * 3 - 1])
  local cap = tonumber(ARGV[i * 3])
  local fails = redis.call('HINCRBY', key, 'fails', 1)
  if fails >= free then
    redis.call('HSET', key, 'until', now + math.min(cap, 2 ^ (fails - free)))
  end
  redis.call('EXPIRE', key, tonumber(ARGV[i * 3 + 1]))
end
return '0'
"""
# Give an attempt back: it succeeded. ARGV[1]: 1 to forget the first key entirely (the pair or
# the device: the owner is back), else only take one failure off each key.
_GIVE_BACK = """
for i, key in ipairs(KEYS) do
  if i == 1 and ARGV[1] == '1' then
    redis.call('DEL', key)
  elseif redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'fails', -1)
  end
end
return 0
"""


def now() -> float:
    return time.time()


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _redis():
    return cache._cache.get_client(write=True)  # noqa: SLF001 - the cache's own connection


def device_token(user_pk: int) -> str:
    """The device cookie's value for a browser that just signed in as this user."""
    return signing.dumps({"u": user_pk, "n": secrets.token_hex(8)}, salt=DEVICE_SALT)


def _device(request, user_pk: int | None) -> str | None:
    """This browser's device id for ``user_pk``, if it signed in as that user before."""
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw or user_pk is None:
        return None
    try:
        data = signing.loads(raw, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE)
    except signing.BadSignature:
        return None
    return data.get("n") if data.get("u") == user_pk else None


def account_of(login: str) -> int | None:
    """The account an attempt is aimed at, whichever of its names was typed."""
    from .models import User

    login = (login or "").strip()
    if not login:
        return None
    return (
        User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login))
        .values_list("pk", flat=True)
        .first()
    )


class Attempt:
    """One sign-in attempt (``kind``: "password" or "code") for one account."""

    def __init__(self, request, *, kind: str, user_pk: int | None, login: str = ""):
        address = request.META.get("REMOTE_ADDR", "") or "-"
        who = f"u{user_pk}" if user_pk is not None else "l" + _hash(login.lower())
        device = _device(request, user_pk)
        self.rules: list[tuple[Rule, str]] = []
        if device:
            self.rules.append((DEVICE, f"{kind}:device:{who}:{device}"))
        else:
            self.rules += [
                (PAIR, f"{kind}:pair:{who}:{_hash(address)}"),
                (ACCOUNT, f"{kind}:account:{who}"),
                (ADDRESS, f"{kind}:address:{_hash(address)}"),
            ]
        self.counted = False

    def _keys(self) -> list[str]:
        return [cache.make_and_validate_key(f"signin:{key}") for _rule, key in self.rules]

    def begin(self) -> None:
        """Count this attempt, or refuse it with how long to wait (ValidationError)."""
        args: list = [now()]
        for rule, _key in self.rules:
            args += [rule.free, rule.cap, rule.window]
        try:
            wait = float(_redis().eval(_CONSUME, len(self.rules), *self._keys(), *args))
        except Exception as exc:  # noqa: BLE001 - Redis away: let the password decide
            log.warning("sign-in throttle unavailable (%s): allowing", exc)
            return
        if wait > 0:
            seconds = math.ceil(wait)
            raise ValidationError(
                ngettext(
                    "Too many failed attempts. Please wait %(seconds)d second and try again.",
                    "Too many failed attempts. Please wait %(seconds)d seconds and try again.",
                    seconds,
                )
                % {"seconds": seconds},
                code="too_many_login_attempts",
            )
        self.counted = True

    def succeeded(self) -> None:
        if not self.counted:
            return
        self.counted = False
        try:
            _redis().eval(_GIVE_BACK, len(self.rules), *self._keys(), "1")
        except Exception as exc:  # noqa: BLE001
            log.warning("sign-in throttle unavailable (%s)", exc)


def set_device_cookie(response, user) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        device_token(user.pk),
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
        path="/accounts/",
    )
