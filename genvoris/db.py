"""Database plumbing for the track path, where the ORM's per-call machinery (compiling a query,
building a model to save it) costs more than the statement it sends."""

from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model


def insert_row(model: type[Model], values: dict[str, Any]) -> None:
    """INSERT one row of `model` from {field attname: value}, without building an instance.

    Each value goes through its field's own `get_db_prep_save`, so it is stored exactly as
    `Model.objects.create` would store it; fields not named get no value (name them all, or let
    the column's database default apply). The caller's transaction is the statement's.
    """
    db = connections[DEFAULT_DB_ALIAS]
    names = tuple(values)
    params = [_field(model, name).get_db_prep_save(values[name], connection=db) for name in names]
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(model, names, db.vendor), params)


@cache
def _insert_sql(model: type[Model], names: tuple[str, ...], vendor: str) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(_field(model, name).column or name) for name in names)
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"


def _field(model: type[Model], name: str) -> "Field[Any, Any]":
    field = model._meta.get_field(name)
    assert isinstance(field, Field), f"{model.__name__}.{name} is not a concrete field"
    return field
