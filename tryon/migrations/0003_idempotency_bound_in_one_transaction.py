"""Idempotency records are now written once, complete, in the transaction of the outcome they
describe: no "in progress" state, and every record holds its answer."""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def drop_unfinished(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # A record still "in progress" holds no answer to replay; under the old scheme it would have
    # been taken over after 60 s anyway.
    apps.get_model("tryon", "IdempotencyRecord").objects.filter(response_status__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("tryon", "0002_dailyproductusage_dailyusage")]

    operations = [
        migrations.RunPython(drop_unfinished, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(model_name="idempotencyrecord", name="state"),
        migrations.AlterField(
            model_name="idempotencyrecord", name="response_status", field=models.PositiveSmallIntegerField()
        ),
        migrations.AlterField(model_name="idempotencyrecord", name="response_body", field=models.JSONField()),
    ]
