"""Roles owner / developer / viewer (SPEC §19): the former "member" could do everything but was
not the owner, so it becomes a developer (keys, webhooks, integration, plans, customers), the
closest role that takes nothing away a member used daily except the team and credits."""

from django.db import migrations, models


def members_become_developers(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("stores", "Membership").objects.filter(role="member").update(role="developer")


def developers_become_members(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("stores", "Membership").objects.filter(role__in=["developer", "viewer"]).update(role="member")


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0007_revoked_key_stays_inactive"),
    ]

    operations = [
        migrations.AlterField(
            model_name="membership",
            name="role",
            field=models.CharField(
                choices=[("owner", "Owner"), ("developer", "Developer"), ("viewer", "Viewer")],
                default="viewer",
                max_length=16,
            ),
        ),
        migrations.RunPython(members_become_developers, developers_become_members),
    ]
