"""Form pieces the portal and the admin share."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


def refuse_long_usernames(form: AuthenticationForm) -> None:
    """Refuse a username longer than the User model holds before authenticate() sees it.

    AuthenticationForm sets the username field's max_length after the field is built, which reaches
    the widget's maxlength but not the field's validators: a longer name goes on to authenticate(),
    whose failure django-axes records in a 255-character column, a 500 on PostgreSQL.
    """
    field = form.fields["username"]
    assert isinstance(field, forms.CharField)
    assert field.max_length
    field.validators.append(MaxLengthValidator(field.max_length))
