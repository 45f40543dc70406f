from django.urls import path

from tryon.api import TrackView

urlpatterns = [
    path("api/tryon/track", TrackView.as_view(), name="tryon-track"),
]
