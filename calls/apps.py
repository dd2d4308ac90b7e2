from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = _("Voice calls")

    def ready(self) -> None:
        """Plug calls into the layers below: its signalling frames on the one websocket, the
        channel of a conference's pages, what a page's socket leaves behind when it goes, and
        its notification kinds (ringing by push, missed calls, conference invitations)."""
        from realtime import registry
        from safety import chronology

        from . import notices, records, sockets, turn

        registry.channel_kind("call")  # the pages of one conference: call.state
        for type_, handler in sockets.FRAMES.items():
            registry.frame(type_, handler)
        registry.socket_hooks(
            registry.SocketHooks(
                app=sockets.APP, connect=sockets.on_connect, disconnect=sockets.on_disconnect
            )
        )
        notices.register()
        chronology.chronology_source(records.incident_rows, labels=records.LABELS)
        turn.static_servers()  # a bad HONBU_ICE_SERVERS stops the start, not the first call
