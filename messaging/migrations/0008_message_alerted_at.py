from django.db import migrations, models
from django.db.models import F


def mark_existing(apps, schema_editor):
    """Instructions sent before this field existed had their alert (or not): never again."""
    Message = apps.get_model("messaging", "Message")
    Message.objects.filter(kind="instruction").update(alerted_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0007_message_exercise"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="alerted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_existing, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("alerted_at__isnull", True), ("kind", "instruction")),
                fields=["created_at"],
                name="message_alert_owed",
            ),
        ),
    ]
