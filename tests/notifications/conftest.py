# Notifications are exercised through messaging's instructions (reminders, hand-overs), so the
# headquarters fixture is shared.
from tests.messaging.conftest import hq  # noqa: F401
