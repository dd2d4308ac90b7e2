"""The usual levels of a Japanese city's disaster readiness; editable in the admin."""

from django.db import migrations

LEVELS = [("alert", "警戒体制", 1), ("emergency", "非常体制", 2)]


def add_levels(apps, schema_editor):
    level = apps.get_model("safety", "IncidentLevel")
    for code, name, order in LEVELS:
        level.objects.get_or_create(code=code, defaults={"name": name, "order": order})


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]
    operations = [migrations.RunPython(add_levels, migrations.RunPython.noop)]
