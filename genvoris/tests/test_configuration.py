"""What an operator configures: every variable the settings read is in .env.example (the table of
docs/deploy.md points there), and SECRET_KEY rotates without signing everyone out."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from conftest import Persona
from genvoris.tests.test_security_settings import production, read_settings

# Added to .env.example by the structured-logs work (issue 14, item 3), merged separately.
OLD_KEY = "old-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG"
NEW_KEY = "new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-HIJKLMN"


def test_every_variable_the_settings_read_is_in_the_example_env() -> None:
    root = Path(settings.BASE_DIR)
    source = (root / "genvoris" / "settings.py").read_text()
    read = set(re.findall(r"""\benv\.\w+\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    assert {"SECRET_KEY", "DATABASE_URL", "METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR"} <= read  # the pattern reads
    example = (root / ".env.example").read_text()
    listed = set(re.findall(r"(?m)^(?:# )?([A-Z][A-Z0-9_]*)=", example))
    assert read - listed == set()


def test_secret_key_fallbacks_are_read_as_a_list(tmp_path: Path) -> None:
    names = ["SECRET_KEY_FALLBACKS"]
    assert read_settings(production(tmp_path), names) == {"SECRET_KEY_FALLBACKS": []}
    env = production(tmp_path, SECRET_KEY_FALLBACKS=f"{OLD_KEY},{NEW_KEY},")
    assert read_settings(env, names) == {"SECRET_KEY_FALLBACKS": [OLD_KEY, NEW_KEY]}


@pytest.mark.django_db
@pytest.mark.parametrize(("fallbacks", "signed_in"), [([OLD_KEY], True), ([], False)])
def test_a_rotated_secret_key_keeps_portal_sessions_only_with_the_old_one_as_fallback(
    client: Client, owner: Persona, fallbacks: list[str], signed_in: bool
) -> None:
    with override_settings(SECRET_KEY=OLD_KEY, SECRET_KEY_FALLBACKS=[]):
        client.force_login(owner.user)
        page = f"/portal/{owner.store.public_id}/"
        assert client.get(page).status_code == 200
    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=fallbacks):
        response = client.get(page)
    if signed_in:
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
