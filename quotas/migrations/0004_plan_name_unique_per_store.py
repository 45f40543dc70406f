from typing import Any

import django.db.models.functions.text
from django.db import migrations, models
from django.db.models.functions import Lower


def rename_duplicate_plans(apps: Any, schema_editor: Any) -> None:
    """Before the constraint: in each store the oldest plan keeps a shared name, the later ones
    become "Pro (2)", "Pro (3)"… so no plan is lost and every name still says what it was."""
    plan_model = apps.get_model("quotas", "Plan")
    plans = plan_model.objects.annotate(lower_name=Lower("name")).order_by("store_id", "id")
    taken: set[tuple[int, str]] = {(p.store_id, p.lower_name) for p in plans}
    seen: set[tuple[int, str]] = set()
    for plan in plans:
        if (plan.store_id, plan.lower_name) not in seen:
            seen.add((plan.store_id, plan.lower_name))
            continue
        number = 2
        while (plan.store_id, f"{plan.name[:72]} ({number})".lower()) in taken:
            number += 1
        plan.name = f"{plan.name[:72]} ({number})"
        taken.add((plan.store_id, plan.name.lower()))
        plan.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [
        ("quotas", "0003_endcustomer_email_index"),
    ]

    operations = [
        migrations.RunPython(rename_duplicate_plans, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="plan",
            constraint=models.UniqueConstraint(
                models.F("store"),
                django.db.models.functions.text.Lower("name"),
                name="quotas_plan_store_name_unique",
            ),
        ),
    ]
