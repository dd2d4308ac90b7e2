from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = _("Live delivery")

    def ready(self) -> None:
        from directory import hooks

        from . import listeners, registry

        registry.channel_kind("usr")
        registry.event_handler("session.end", listeners.on_session_end)
        registry.frame("ping", listeners.on_ping)
        hooks.access_listener(listeners.on_access_changed)
