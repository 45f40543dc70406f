from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from genvoris.api import no_endpoint
from genvoris.views import favicon, landing
from stores.account_views import PasswordResetView, SetPasswordView
from stores.forms import LoginForm
from stores.views import portal_home

urlpatterns = [
    path("", landing, name="landing"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("", include("quotas.urls")),
    path("", include("tryon.urls")),
    path("", include("stores.urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path("accounts/set-password/<uidb64>/<token>/", SetPasswordView.as_view(), name="password_reset_confirm"),
    path("portal/", portal_home, name="portal"),
    path("portal/<str:store_id>/", include("tryon.portal_urls")),
    path("portal/<str:store_id>/", include("quotas.portal_urls")),
    path("portal/<str:store_id>/", include("stores.portal_urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Last: every other path under these answers the JSON 404 for every method, even with DEBUG on.
    re_path(r"^(?:api|\.well-known)/", no_endpoint),
]

handler404 = "genvoris.api.not_found"
handler500 = "genvoris.api.server_error"
