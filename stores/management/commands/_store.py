from django.core.management.base import CommandError

from stores.models import Store
from stores.selectors import store_by_public_id


def store_arg(public_id: str) -> Store:
    store = store_by_public_id(public_id)
    if store is None:
        raise CommandError(f"No store with id {public_id!r} (store ids look like st_…).")
    return store
