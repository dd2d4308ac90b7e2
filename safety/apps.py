from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = _("Disaster mode and safety confirmation")

    def ready(self) -> None:
        """Plug safety into the layers below: every socket joins the city-wide channel (the
        disaster banner), headquarters screens watch a round's totals, and the requests to
        answer are notifications of their own kind with a private-address channel."""
        from realtime import registry

        from . import notices, sockets
        from .jma import notices as jma_notices

        registry.channel_kind("all", relayed=True)  # every socket: incident.changed
        registry.channel_kind("sround")  # screens watching a round's live totals
        registry.frame("safety.watch", sockets.on_watch)
        registry.event_handler("safety.changed", sockets.on_safety_changed)
        registry.socket_hooks(
            registry.SocketHooks(
                app=sockets.APP, connect=sockets.on_connect, disconnect=sockets.on_disconnect
            )
        )
        notices.register()
        jma_notices.register()  # safety_proposal: "declare disaster mode?" (the JMA feed)
