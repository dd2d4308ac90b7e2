from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DrillsConfig(AppConfig):
    name = "drills"
    verbose_name = _("Drills")

    def ready(self) -> None:
        """A real disaster stops (or pauses) running drills; the control cell's call reminders
        are notifications of their own kind."""
        from notifications import kinds
        from safety import hooks

        from . import notices, runs

        hooks.incident_listener(runs.on_real_incident)
        kinds.register(kinds.Kind("drill_call", render=notices.call_texts))
