"""What every signed-in page shows of messaging: the unread counts behind the Groups tab badge
(kept live by static/js/alerts.js from the page's socket). Lazy: a partial page (live search,
a list refreshing itself) that does not show the badge costs no query."""

from __future__ import annotations

import json
from functools import cached_property

from . import selectors


class UnreadBadge:
    def __init__(self, user) -> None:
        self.user = user

    @cached_property
    def by_group(self) -> dict[str, int]:
        return {str(g): n for g, n in selectors.user_unread_by_group(user=self.user).items()}

    @property
    def total(self) -> int:
        return sum(self.by_group.values())

    @property
    def json(self) -> str:
        return json.dumps(self.by_group)


def unread(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"UNREAD": UnreadBadge(user)}
