"""The demo city (an Osaka-like city). Filled in by the seed_demo work; see seed_demo command."""

DEMO_PASSWORD = "honbu-demo-2026"


def demo_signins() -> list[tuple[str, str, str]]:
    return []
