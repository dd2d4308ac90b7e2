"""Voice calls: one-to-one calls and group conferences. Each call is a public record: who called
whom (or which group), when it rang, was answered and ended, how it ended, and every
participant's join and leave times. No audio is ever recorded or passes through the server."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from messaging.models import CommandGroup, Message


class Call(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct", _("One-to-one call")
        CONFERENCE = "conference", _("Group conference")

    class State(models.TextChoices):
        RINGING = "ringing", _("Ringing")
        ACTIVE = "active", _("In progress")
        ENDED = "ended", _("Ended")

    class Outcome(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        BUSY = "busy", _("Busy")
        DECLINED = "declined", _("Declined")
        NO_ANSWER = "no_answer", _("No answer")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Network failure")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    state = models.CharField(_("state"), max_length=8, choices=State.choices)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    # The one-to-one conversation of the two, or the command group of the conference.
    group = models.ForeignKey(
        CommandGroup, verbose_name=_("group"), on_delete=models.PROTECT, related_name="+"
    )
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("caller"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Who they were when calling (names and posts change; the record must not).
    caller_name = models.CharField(max_length=120)
    caller_post_name = models.CharField(max_length=100, blank=True)
    callee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("callee"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    callee_name = models.CharField(max_length=120, blank=True)
    callee_post_name = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(_("started at"))
    ring_until = models.DateTimeField(null=True, blank=True)  # one-to-one: then "no answer"
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # hangup, declined, timeout, network, ice, busy, ended_by_commander, empty …
    end_reason = models.CharField(_("reason"), max_length=24, blank=True)
    # Bumped on every change: pages drop a state older than the one they show.
    version = models.PositiveIntegerField(default=1)
    # The line in the one-to-one conversation that tells of this call (不在着信, 通話 3:12 …).
    record_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A commander's missed call in disaster mode: the urgent instruction that chases the callee.
    escalation_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notifications = GenericRelation(
        "notifications.Notification",
        content_type_field="subject_type",
        object_id_field="subject_id",
        related_query_name="call",
    )

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group"],
                condition=Q(kind="conference") & ~Q(state="ended"),
                name="calls_one_live_conference",
            ),
        ]
        indexes = [
            # The sweep: calls still ringing or running.
            models.Index(fields=["state"], condition=~Q(state="ended"), name="calls_live_idx"),
            models.Index(fields=["group", "started_at"], name="calls_group_idx"),
            models.Index(fields=["started_at"], name="calls_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.state}"

    @property
    def duration_seconds(self) -> int | None:
        """Talk time: from the answer (the first join, in a conference) to the end."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.answered_at).total_seconds()))

    @property
    def missed(self) -> bool:
        """A one-to-one call the callee neither answered nor declined."""
        return (
            self.kind == self.Kind.DIRECT
            and self.state == self.State.ENDED
            and self.answered_at is None
            and self.outcome != self.Outcome.DECLINED
        )


class Participant(models.Model):
    """One person's time in a call (a leg): in a conference a new row for each join. The page
    that holds the leg is its websocket's channel; signalling goes only between such pages."""

    class Role(models.TextChoices):
        CALLER = "caller", _("Caller")
        CALLEE = "callee", _("Callee")
        COMMANDER = "commander", _("Commander")
        MEMBER = "member", _("Member")
        OBSERVER = "observer", _("Observer (listens)")

    call = models.ForeignKey(Call, on_delete=models.PROTECT, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=120)
    post_name = models.CharField(max_length=100, blank=True)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    joined_at = models.DateTimeField(_("joined at"), null=True, blank=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    # hangup, declined, network, ice, ended, moved …
    left_reason = models.CharField(_("reason"), max_length=24, blank=True)
    # The websocket (channel-layer channel) of the page holding this leg; empty until bound.
    channel = models.CharField(max_length=200, blank=True, default="")
    # Bumped when a fresh page takes the leg (a reload): peers start a new connection with it.
    epoch = models.PositiveIntegerField(default=0)
    # The page's socket went away; it has HONBU_CALL_RECONNECT_SECONDS to come back.
    lost_at = models.DateTimeField(null=True, blank=True)
    muted = models.BooleanField(_("muted"), default=False)
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ["call", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["call", "user"],
                condition=Q(left_at__isnull=True),
                name="calls_one_live_leg",
            ),
        ]
        indexes = [
            models.Index(
                fields=["channel"], condition=~Q(channel=""), name="calls_leg_channel_idx"
            ),
            models.Index(
                fields=["user"], condition=Q(left_at__isnull=True), name="calls_leg_live_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.call_id}/{self.user_id}"

    @property
    def live(self) -> bool:
        return self.left_at is None

    @property
    def duration_seconds(self) -> int | None:
        if self.joined_at is None or self.left_at is None:
            return None
        return max(0, int((self.left_at - self.joined_at).total_seconds()))


class MissedCallRoute(models.Model):
    """The ad hoc group through which a commander post's missed calls to one headquarters seat
    are chased (docs/calls.md): the commander post as commander and the callee's post (or the
    callee, when they sit in headquarters by name) as member, so messaging's escalation reminds
    the holder and then that post's deputies. One per pair, reused."""

    # "<caller post id>>p<post id>", or ">s<staff id>" for a member by name
    key = models.CharField(max_length=60, unique=True)
    group = models.OneToOneField(CommandGroup, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("missed-call route")
        verbose_name_plural = _("missed-call routes")

    def __str__(self) -> str:
        return self.key
