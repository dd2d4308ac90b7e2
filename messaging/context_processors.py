"""What every signed-in page shows of messaging: the unread counts behind the Groups tab badge
(kept live by static/js/alerts.js from the page's socket)."""

from __future__ import annotations

import json

from . import selectors


def unread(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/admin/"):
        return {}
    counts = selectors.unread_counts(
        pairs={(user.pk, group_id) for group_id in selectors.user_group_ids(user=user)}
    )
    by_group = {str(group_id): n for (_user, group_id), n in counts.items() if n}
    return {"UNREAD_TOTAL": sum(by_group.values()), "UNREAD_JSON": json.dumps(by_group)}
