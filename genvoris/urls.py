from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from genvoris.api import not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("quotas.urls")),
    path("", include("tryon.urls")),
    path("portal/<str:store_id>/", include("tryon.portal_urls")),
    path("portal/<str:store_id>/", include("quotas.portal_urls")),
    path("portal/<str:store_id>/", include("stores.portal_urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Unknown API paths answer the JSON envelope even with DEBUG on.
    re_path(r"^api/", not_found),
]

handler404 = "genvoris.api.not_found"
handler500 = "genvoris.api.server_error"
