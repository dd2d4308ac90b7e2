# Drills run against the safety tests' small city (headquarters group, posts, wards, staff).
from tests.safety.conftest import city  # noqa: F401
