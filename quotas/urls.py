from django.urls import path

from quotas.api import JwksView

urlpatterns = [
    path(".well-known/jwks.json", JwksView.as_view(), name="jwks"),
]
