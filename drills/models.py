"""Drills: scenarios as a timed list of injects (the Master Scenario Events List), runs of them
against the real groups in exercise mode, and what the run measured.

A run's injects fire from a beat sweep over ``RunInject.due_at`` (an index), each at most once
(a conditional UPDATE claims it); what people did is read back from the public record (receipts,
replies, chases, safety answers), so the measurements are exactly what happened."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit, Post
from messaging.models import CommandGroup, Message
from safety.models import SafetyRound


class Scenario(models.Model):
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("scenario")
        verbose_name_plural = _("scenarios")
        ordering = ["title", "pk"]

    def __str__(self) -> str:
        return self.title


class Inject(models.Model):
    """One line of the scenario: what happens when, from whom, to whom, and what is expected."""

    class Kind(models.TextChoices):
        SITUATION = "situation", _("Situation report (状況付与)")
        INSTRUCTION = "instruction", _("Instruction (指示)")
        SAFETY_ROUND = "safety", _("Safety round")
        JMA = "jma", _("Simulated JMA earthquake report")
        CALL = "call", _("Phone call to simulate")

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="injects")
    number = models.PositiveIntegerField(_("number"))
    offset = models.PositiveIntegerField(_("time from the start (seconds)"))
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # From a post (its holder sends it), or the exercise control cell (統制部) when empty.
    from_post = models.ForeignKey(
        Post,
        verbose_name=_("from"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_group = models.ForeignKey(
        CommandGroup,
        verbose_name=_("to group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_units = models.ManyToManyField(OrgUnit, verbose_name=_("to units"), blank=True)
    priority = models.CharField(
        _("priority"),
        max_length=10,
        choices=Message.Priority.choices,
        default=Message.Priority.URGENT,
    )
    text = models.TextField(_("text"))
    # [{"check": "read"|"ack"|"reply"|"safety", "minutes": n, "percent": p (safety)}]
    expectations = models.JSONField(_("expected actions"), default=list, blank=True)
    objective = models.CharField(_("objective"), max_length=200, blank=True)
    # Fired when an expectation of this inject is missed at its deadline (e.g. "the first
    # deputy answers for the silent ward head").
    contingency = models.ForeignKey(
        "self",
        verbose_name=_("contingency inject"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    only_as_contingency = models.BooleanField(_("only as a contingency"), default=False)

    class Meta:
        verbose_name = _("inject")
        verbose_name_plural = _("injects")
        ordering = ["scenario", "offset", "number"]
        constraints = [
            models.UniqueConstraint(fields=["scenario", "number"], name="inject_unique_number"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.get_kind_display()}"


class Run(models.Model):
    """One exercise of a scenario, against the real groups and staff."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        FINISHED = "finished", _("Finished")
        STOPPED = "stopped", _("Stopped")

    class OnRealIncident(models.TextChoices):
        STOP = "stop", _("Stop the drill")
        PAUSE = "pause", _("Pause the drill")

    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    speed = models.PositiveSmallIntegerField(_("speed"), default=1)  # 1×, 2×, 5×
    start_at = models.DateTimeField(_("start at"))
    paused_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    on_real_incident = models.CharField(
        _("if a real disaster is declared"),
        max_length=6,
        choices=OnRealIncident.choices,
        default=OnRealIncident.STOP,
    )
    # A run may play only part of the city: safety rounds then ask only these units' staff, and
    # the measurements count only their people. Empty: everyone.
    units = models.ManyToManyField(
        OrgUnit, verbose_name=_("units taking part"), blank=True, related_name="+"
    )
    # The evaluator's after-action ratings per objective: {"objective": {"rating", "strengths",
    # "improvements"}}.
    evaluation = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("drill run")
        verbose_name_plural = _("drill runs")
        ordering = ["-start_at"]

    def __str__(self) -> str:
        return f"{self.scenario} @ {self.start_at:%Y-%m-%d %H:%M}"


class RunInject(models.Model):
    """An inject of a run: when it is due (scenario offset ÷ speed, moved by pauses), when it
    fired and what it produced (a message, a round). Unplanned injects have no ``inject``."""

    class Status(models.TextChoices):
        DUE = "due", _("Due")
        FIRED = "fired", _("Fired")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="injects")
    inject = models.ForeignKey(
        Inject, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Inject.Kind.choices)
    text = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)
    due_at = models.DateTimeField(null=True, blank=True)  # null: not scheduled (contingency)
    fired_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    round = models.ForeignKey(
        SafetyRound, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    detail = models.CharField(max_length=300, blank=True)
    contingency_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked = models.BooleanField(default=False)  # expectations evaluated at their deadline

    class Meta:
        verbose_name = _("inject of a run")
        verbose_name_plural = _("injects of runs")
        ordering = ["run", "due_at", "number"]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="due"), name="runinject_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.number}"


class RunEntry(models.Model):
    """The audited log of a run: started, paused, resumed, skipped, fired now, added, stopped."""

    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="entries")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=20)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("drill run log entry")
        verbose_name_plural = _("drill run log entries")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.run_id} {self.action}"
