from django.apps import AppConfig


class GenvorisConfig(AppConfig):
    name = "genvoris"
