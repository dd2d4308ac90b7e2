from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from realtime import registry

        from . import kinds, sockets, texts

        kinds.register(kinds.Kind("test", render=texts.test_texts))
        for type_, handler in sockets.FRAMES.items():
            registry.frame(type_, handler)
