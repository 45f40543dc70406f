"""Password reset and the one-time set-password link (invites, create_store), with Django's views."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy

from genvoris.ratelimit import client_ip, hit


class PasswordResetView(auth_views.PasswordResetView):
    """Always answers the same page, whether the email has an account or not; past
    PASSWORD_RESETS_PER_HOUR requests from an address, sends nothing more (and says the same)."""

    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        counted = hit(f"password-reset:{client_ip(self.request)}", settings.PASSWORD_RESETS_PER_HOUR, 3600)
        if counted is not None and counted.over_limit:
            return redirect(self.success_url)
        return super().form_valid(form)


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The link of an invite or a reset: choose a password, and the account is active and signed
    in. The token stops working once the password has changed, so the link works once."""

    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("portal")

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.user
        if not user.is_active:
            user.is_active = True  # saved with the new password by the form
        return super().form_valid(form)
