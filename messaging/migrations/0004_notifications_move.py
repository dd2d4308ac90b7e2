"""Notifications, push subscriptions and notification settings move to the notifications app
(a channel-agnostic row with a generic reference to what it is about). The rows are copied —
they are part of the public record — before messaging's tables are dropped."""

from django.db import migrations

BATCH = 2000


def copy_to_notifications(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    old_note = apps.get_model("messaging", "Notification")
    old_push = apps.get_model("messaging", "PushSubscription")
    old_prefs = apps.get_model("messaging", "NotificationSettings")
    Note = apps.get_model("notifications", "Notification")
    Push = apps.get_model("notifications", "PushSubscription")
    Prefs = apps.get_model("notifications", "NotificationSettings")
    Push.objects.bulk_create(
        [
            Push(
                id=p.id,
                user_id=p.user_id,
                endpoint=p.endpoint,
                p256dh=p.p256dh,
                auth=p.auth,
                user_agent=p.user_agent,
                created_at=p.created_at,
                last_success_at=p.last_success_at,
                failures=p.failures,
            )
            for p in old_push.objects.all()
        ]
    )
    Prefs.objects.bulk_create(
        [
            Prefs(id=p.id, user_id=p.user_id, push=p.push, email=p.email)
            for p in old_prefs.objects.all()
        ]
    )
    message_type = None
    if old_note.objects.exists():
        message_type, _ = ContentType.objects.get_or_create(app_label="messaging", model="message")
    batch = []
    for n in old_note.objects.order_by("id").iterator(chunk_size=BATCH):
        batch.append(
            Note(
                id=n.id,
                user_id=n.user_id,
                kind=n.kind,
                channel=n.channel,
                status=n.status,
                subject_type_id=message_type.pk if n.message_id else None,
                subject_id=n.message_id,
                data={"chase": n.chase_id, "step": n.step} if n.chase_id else {},
                once_key=f"chase:{n.chase_id}:{n.step}" if n.chase_id else "",
                detail=n.detail,
                created_at=n.created_at,
                sent_at=n.sent_at,
            )
        )
        if len(batch) >= BATCH:
            Note.objects.bulk_create(batch)
            batch = []
    Note.objects.bulk_create(batch)
    if schema_editor.connection.vendor == "postgresql":  # ids were copied: move the sequences on
        with schema_editor.connection.cursor() as cursor:
            for model in (Note, Push, Prefs):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
                )


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_notification_pending_index"),
        ("notifications", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(copy_to_notifications, migrations.RunPython.noop),
        migrations.RemoveField(model_name="notificationsettings", name="user"),
        migrations.RemoveField(model_name="pushsubscription", name="user"),
        migrations.DeleteModel(name="Notification"),
        migrations.DeleteModel(name="NotificationSettings"),
        migrations.DeleteModel(name="PushSubscription"),
    ]
