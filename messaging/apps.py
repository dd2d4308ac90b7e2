from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("Messaging")

    def ready(self) -> None:
        """Plug messaging into the layers below it: its websocket frames, events and channel
        groups (realtime), its notification kinds (notifications), and what a change of a
        post's holder means for group membership (the directory's access hook)."""
        from directory import hooks
        from realtime import registry

        from . import listeners, sockets

        registry.channel_kind("grp", relayed=True)  # every member's sockets: one relay/process
        registry.channel_kind("watch")  # the group's commanders: receipt counts, chases
        for type_, handler in sockets.FRAMES.items():
            registry.frame(type_, handler)
        for type_, handler in sockets.EVENTS.items():
            registry.event_handler(type_, handler)
        registry.socket_hooks(
            registry.SocketHooks(
                app=sockets.APP,
                connect=sockets.on_connect,
                disconnect=sockets.on_disconnect,
                load=sockets.load_membership,
            )
        )
        hooks.access_listener(listeners.on_access_changed)
        listeners.register_notification_kinds()
