# Live pages are exercised with messaging's headquarters group, so the
# headquarters fixture is shared.
from tests.messaging.conftest import hq  # noqa: F401
