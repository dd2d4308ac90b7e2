from django.db import migrations, models


def rounds_before_this_were_notified(apps, schema_editor):
    # Rounds started before the field existed were written by the task as before; the sweep
    # must not take them for rounds whose first messages are missing.
    SafetyRound = apps.get_model("safety", "SafetyRound")
    SafetyRound.objects.filter(notified_at__isnull=True).update(notified_at=models.F("started_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("safety", "0003_jma"),
    ]

    operations = [
        migrations.AddField(
            model_name="safetyround",
            name="notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(rounds_before_this_were_notified, migrations.RunPython.noop),
    ]
