"""Helpers for the admin tests of every app: post a change form as a browser would, run an action."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Model
from django.test import Client
from django.urls import reverse


def admin_url(model: type[Model] | Model, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def change_url(obj: Model) -> str:
    return admin_url(obj, "change", obj.pk)


def _posted(field: forms.Field, value: Any) -> Any:
    if isinstance(field, forms.BooleanField):
        return "on" if value else None  # an unticked checkbox is not sent at all
    return "" if value is None else value


def _form_data(form: forms.BaseForm) -> dict[str, Any]:
    data = {form.add_prefix(name): _posted(field, form[name].value()) for name, field in form.fields.items()}
    return {key: value for key, value in data.items() if value is not None}


def change_form_data(client: Client, url: str) -> dict[str, Any]:
    """The POST a browser sends for the change form at `url` untouched: every editable field at its
    current value and every inline's management form."""
    response = client.get(url)
    assert response.status_code == 200, url
    data = _form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data |= _form_data(inline.formset.management_form)
        for form in inline.formset.forms:
            data |= _form_data(form)
    return data


def run_action(client: Client, model: type[Model], action: str, objects: list[Model], **fields: Any) -> Any:
    """POST an admin action on the changelist for `objects`, with the fields of its intermediate form."""
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [obj.pk for obj in objects], **fields}
    return client.post(admin_url(model, "changelist"), data)


def registered_models() -> list[type[Model]]:
    return list(admin.site._registry)
