"""Audit entries written before 0010 hold the suspension's internal note as `reason` (on
store.suspended) and `previous_reason` (on store.reactivated): the text 0010 renamed to
`suspended_note` because it was written for colleagues. Move it under the staff-only keys, so the
portal's trail never shows it to the merchant."""

from typing import Any

from django.db import migrations


def move_old_notes(apps: Any, schema_editor: Any) -> None:
    AuditEntry = apps.get_model("stores", "AuditEntry")
    renames = {"store.suspended": ("reason", "note"), "store.reactivated": ("previous_reason", "previous_note")}
    for action, (old, new) in renames.items():
        for entry in AuditEntry.objects.filter(action=action, detail__has_key=old).iterator():
            if new in entry.detail:
                continue
            entry.detail[new] = entry.detail.pop(old)
            entry.save(update_fields=["detail"])


class Migration(migrations.Migration):
    dependencies = [("stores", "0011_audit_key_and_customer_changes")]

    operations = [migrations.RunPython(move_old_notes, migrations.RunPython.noop)]
