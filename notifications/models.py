"""Notifications to people, on any channel, about anything: an instruction's reminder, a deputy's
hand-over, tomorrow a safety round. The rows are part of the public record (who was told what,
when, how, and whether it went out); the app that sends a kind registers how it reads (kinds.py).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from directory.models import Staff


class Notification(models.Model):
    """One notification to one person on one channel. ``once_key`` (e.g. a chase step) makes
    a step fire at most once per person and channel, whatever the sender's sweep does."""

    class Channel(models.TextChoices):
        IN_APP = "inapp", _("In the app")
        PUSH = "push", _("Push notification")
        EMAIL = "email", _("E-mail")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("No address")

    # The recipient: an account, or a staff member without one (e-mail only).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    staff = models.ForeignKey(
        Staff, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=40)  # registered in kinds.py by its app
    channel = models.CharField(max_length=20, choices=Channel.choices)  # see channels.py
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    # What it is about (an instruction, a safety round …): the timeline it belongs to.
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    data = models.JSONField(default=dict, blank=True)  # the kind's own details (chase, step …)
    once_key = models.CharField(max_length=100, blank=True, default="")
    claim = models.CharField(max_length=16, blank=True, default="")  # which delivery took it
    claimed_at = models.DateTimeField(null=True, blank=True)
    # What was sent, as sent (filled when it goes out, in the recipient's language).
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(staff__isnull=False),
                name="notifications_has_recipient",
            ),
            models.UniqueConstraint(
                fields=["once_key", "user", "channel"],
                condition=~Q(once_key="") & Q(user__isnull=False),
                name="notifications_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["once_key", "staff", "channel"],
                condition=~Q(once_key="") & Q(user__isnull=True),
                name="notifications_once_per_staff",
            ),
        ]
        indexes = [
            models.Index(
                fields=["subject_type", "subject_id", "created_at"],
                name="notifications_subject_idx",
            ),
            # Push/e-mail rows not yet sent: the sweep re-queues stale ones (a lost task).
            models.Index(
                fields=["created_at"],
                condition=Q(status="pending"),
                name="notifications_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.channel} → {self.user_id or self.staff_id}"


class PushSubscription(models.Model):
    """A browser's Web Push endpoint (the installed PWA or a browser tab)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")

    def __str__(self) -> str:
        return f"{self.user_id} {self.endpoint[:40]}"


class NotificationSettings(models.Model):
    """Which channels a person gets notifications on. In-app is always on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    push = models.BooleanField(_("push notifications"), default=True)
    email = models.BooleanField(_("e-mail"), default=True)

    class Meta:
        verbose_name = _("notification settings")
        verbose_name_plural = _("notification settings")

    def __str__(self) -> str:
        return f"{self.user_id}"
