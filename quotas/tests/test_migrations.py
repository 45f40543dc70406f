"""quotas/migrations/0004: plans that shared a name before the constraint are renamed, not lost."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from conftest import Persona
from quotas.models import Plan
from quotas.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


def test_later_plans_of_a_shared_name_are_numbered(owner: Persona, outsider: Persona) -> None:
    migration = importlib.import_module("quotas.migrations.0004_plan_name_unique_per_store")
    with connection.cursor() as cursor:  # back to the data before the constraint (rolled back after the test)
        cursor.execute("DROP INDEX quotas_plan_store_name_unique")
    Plan.objects.filter(pk=owner.plan.pk).update(name="Pro")
    later = [PlanFactory(store=owner.store, name=name) for name in ("pro", "PRO", "Pro (2)", "Basic")]
    Plan.objects.filter(pk=outsider.plan.pk).update(name="Pro")  # another store's: untouched

    migration.rename_duplicate_plans(apps, None)

    names = dict(Plan.objects.filter(store=owner.store).values_list("pk", "name"))
    assert names[owner.plan.pk] == "Pro"  # the oldest keeps it
    assert [names[p.pk] for p in later] == ["pro (3)", "PRO (4)", "Pro (2)", "Basic"]
    assert len({name.lower() for name in names.values()}) == len(names)
    assert Plan.objects.get(pk=outsider.plan.pk).name == "Pro"
