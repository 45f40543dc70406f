"""The project's routes plus the baseline at /bench/baseline/track, served side by side."""

from django.urls import path

import genvoris.urls
from bench.baseline import baseline_track

BASELINE_PATH = "/bench/baseline/track"

urlpatterns = [path(BASELINE_PATH.lstrip("/"), baseline_track), *genvoris.urls.urlpatterns]
handler404 = genvoris.urls.handler404
handler500 = genvoris.urls.handler500
