"""API-key domain allowlists (stores/domains.py, SPEC §3 step 4): the matching rules, the
normalization of entries when a key is created, and the check as the track endpoint applies it."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Persona, Track
from genvoris.errors import ApiError, ErrorCode
from stores.domains import domain_allowed, normalize_domain_entry, origin_host
from stores.models import ApiKey, Store
from stores.tests.factories import ApiKeyFactory
from tryon.models import TryOnEvent

CREDITS = 100  # what the persona fixtures start with

# The suite shares its machine with other work: a slow example is load, not a failure.
patient = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- hostnames and the decorations an origin may carry around them ---------------------------

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
domain = st.lists(label, min_size=2, max_size=3).map(".".join)


@st.composite
def host_near(draw: st.DrawFn, base: str) -> str:
    """A host that looks like `base` in the ways an attacker would try: itself, a subdomain, a
    glued prefix (`evilshop.com`), `base` as a subdomain of another name, a sibling, a stranger."""
    other = draw(label)
    return draw(
        st.sampled_from(
            [
                base,
                f"{other}.{base}",
                f"{draw(label)}.{other}.{base}",
                f"{other}{base}",
                f"{other}-{base}",
                f"{base}.{other}",
                f"{base}{other}",
                f"{other}.{base.partition('.')[2]}",
                base.partition(".")[2],
                draw(domain),
            ]
        )
    )


@st.composite
def decorated(draw: st.DrawFn, host: str) -> str:
    """`host` as an origin might spell it: any scheme or none, any case, a port, a path, a
    trailing dot, surrounding blanks."""
    scheme = draw(st.sampled_from(["", "https://", "http://", "HTTPS://", "//"]))
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in host)
    dot = draw(st.sampled_from(["", "."]))
    port = draw(st.sampled_from(["", ":443", ":8443", ":80"]))
    path = draw(st.sampled_from(["", "/", "/p/dress-42?size=m"])) if scheme else ""
    blank = draw(st.sampled_from(["", " ", "\t"]))
    return f"{blank}{scheme}{cased}{dot}{port}{path}{blank}"


# --- unit: origin_host -----------------------------------------------------------------------


class TestOriginHost:
    @pytest.mark.parametrize(
        ("origin", "host"),
        [
            ("https://shop.com", "shop.com"),
            ("HTTPS://SHOP.COM:8443", "shop.com"),
            ("shop.com", "shop.com"),
            ("shop.com:8443", "shop.com"),
            ("https://www.shop.com/p/dress-42?size=m#top", "www.shop.com"),
            ("https://shop.com.", "shop.com"),
            ("  https://shop.com  ", "shop.com"),
            ("http://127.0.0.1:8000", "127.0.0.1"),
            ("//shop.com", "shop.com"),
            ("shop.com/back?to=https://other.com", "shop.com"),
        ],
    )
    def test_host_without_scheme_port_path_or_case(self, origin: str, host: str) -> None:
        assert origin_host(origin) == host

    @pytest.mark.parametrize("origin", [None, "", "   ", "https://", "//", "http://[::1", "."])
    def test_no_host(self, origin: str | None) -> None:
        assert origin_host(origin) is None

    @patient
    @given(st.text(max_size=60))
    def test_never_raises(self, origin: str) -> None:
        host = origin_host(origin)
        assert host is None or host == host.lower()


# --- unit: domain_allowed --------------------------------------------------------------------


class TestDomainAllowed:
    @pytest.mark.parametrize(
        ("entries", "origin", "allowed"),
        [
            # exact entries match only themselves
            (["shop.com"], "https://shop.com", True),
            (["shop.com"], "https://www.shop.com", False),
            (["shop.com"], "https://evilshop.com", False),
            (["shop.com"], "https://shop.com.evil.com", False),
            (["shop.com"], "https://shop.co", False),
            (["shop.com"], "https://hop.com", False),
            # wildcards match any subdomain, however deep, but not the apex
            (["*.shop.com"], "https://a.shop.com", True),
            (["*.shop.com"], "https://x.y.shop.com", True),
            (["*.shop.com"], "https://shop.com", False),
            (["*.shop.com"], "https://evilshop.com", False),
            (["*.shop.com"], "https://a.evilshop.com", False),
            (["*.shop.com"], "https://shop.com.evil.com", False),
            (["*.shop.com"], "https://a.shop.com.evil.com", False),
            (["*.shop.com"], "https://ashop.com", False),
            # scheme, port, case, trailing dot and path are ignored
            (["shop.com"], "HTTPS://SHOP.COM:8443", True),
            (["shop.com"], "http://shop.com:80/p/1?q=2", True),
            (["shop.com"], "shop.com", True),
            (["shop.com"], "https://shop.com.", True),
            (["*.shop.com"], "HTTP://WWW.Shop.Com:8443", True),
            # several entries: any one will do
            (["shop.com", "*.shop.com"], "https://shop.com", True),
            (["shop.com", "*.shop.com"], "https://m.shop.com", True),
            (["other.com", "*.shop.com"], "https://shop.com", False),
            # no origin, or an origin without a host, while a list exists
            (["shop.com"], None, False),
            (["shop.com"], "", False),
            (["shop.com"], "null", False),
            (["shop.com"], "https://", False),
            # an empty list allows everything, even no origin
            ([], None, True),
            ([], "", True),
            ([], "https://anything.example", True),
        ],
    )
    def test_rules(self, entries: list[str], origin: str | None, allowed: bool) -> None:
        assert domain_allowed(entries, origin) is allowed

    @pytest.mark.parametrize(
        "origin",
        ["https://.shop.com", "https://a..shop.com", "https://*.shop.com", "https://a b.shop.com", "*.shop.com"],
    )
    def test_something_that_is_not_a_hostname_is_no_subdomain(self, origin: str) -> None:
        assert not domain_allowed(["*.shop.com"], origin)

    @patient
    @given(base=domain, data=st.data())
    def test_a_host_matches_only_its_own_entries(self, base: str, data: st.DataObject) -> None:
        """However an origin is spelled, `d` admits exactly d and `*.d` exactly the names under d:
        a host is never admitted by an entry for another name or another suffix."""
        host = data.draw(host_near(base))
        origin = data.draw(decorated(host))
        assert domain_allowed([base], origin) is (host == base)
        assert domain_allowed([f"*.{base}"], origin) is host.endswith(f".{base}")

    @patient
    @given(entries=st.lists(domain, max_size=3), origin=st.text(max_size=60))
    def test_never_raises(self, entries: list[str], origin: str) -> None:
        assert domain_allowed(entries, origin) in (True, False)


# --- unit: normalize_domain_entry ------------------------------------------------------------


class TestNormalizeDomainEntry:
    @pytest.mark.parametrize(
        ("raw", "entry"),
        [
            ("shop.com", "shop.com"),
            ("Shop.com", "shop.com"),
            ("https://shop.com/", "shop.com"),
            ("https://shop.com:443/", "shop.com"),
            ("HTTP://WWW.Shop.com:8080/path?q=1", "www.shop.com"),
            ("shop.com.", "shop.com"),
            (" *.Shop.COM ", "*.shop.com"),
            ("*.shop.com", "*.shop.com"),
            ("xn--bcher-kva.de", "xn--bcher-kva.de"),
            ("localhost", "localhost"),
        ],
    )
    def test_normalized(self, raw: str, entry: str) -> None:
        assert normalize_domain_entry(raw) == entry

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "   ",
            "sh op.com",
            "*.",
            "*",
            "http://",
            "https://",
            "*.*.shop.com",
            "shop.*.com",
            "shop..com",
            "-shop.com",
            "shop.com*",
            "a" * 64 + ".com",
            "[::1]",
            "shop_com.com",
        ],
    )
    def test_invalid(self, raw: str) -> None:
        with pytest.raises(ValueError, match="is not a domain"):
            normalize_domain_entry(raw)

    @patient
    @given(base=domain, wildcard=st.booleans(), data=st.data())
    def test_any_spelling_normalizes_to_the_canonical_entry(
        self, base: str, wildcard: bool, data: st.DataObject
    ) -> None:
        spelled = data.draw(decorated(base))
        if wildcard:
            spelled = spelled.strip()
            spelled = f"*.{spelled.split('//', 1)[-1]}"
        expected = f"*.{base}" if wildcard else base
        assert normalize_domain_entry(spelled) == expected

    @patient
    @given(st.text(max_size=40))
    def test_an_accepted_entry_is_canonical(self, raw: str) -> None:
        try:
            entry = normalize_domain_entry(raw)
        except ValueError:
            return
        assert normalize_domain_entry(entry) == entry
        assert entry == entry.strip().lower()


# --- through the track endpoint --------------------------------------------------------------


def balance(persona: Persona) -> int:
    return Store.objects.get(pk=persona.store.pk).credit_balance


def assert_allowed(response: Any, persona: Persona) -> None:
    assert response.status_code == 200, response.content
    assert balance(persona) == CREDITS - 1
    assert TryOnEvent.objects.filter(store=persona.store, debited=True).count() == 1


def assert_refused(response: Any, persona: Persona) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["error"] == "domain_not_allowed"
    assert body["message"]
    assert body["detail"]
    assert balance(persona) == CREDITS
    assert not TryOnEvent.objects.filter(store=persona.store).exists()


@pytest.mark.django_db
class TestTrackAllowlist:
    @pytest.mark.parametrize(
        ("entries", "origin"),
        [
            (["shop.com"], "https://shop.com"),
            (["*.shop.com"], "https://a.shop.com"),
            (["*.shop.com"], "https://x.y.shop.com"),
            (["shop.com"], "HTTPS://SHOP.COM:8443"),
            (["shop.com"], "shop.com"),
            (["Shop.com"], "https://shop.com"),
            (["shop.com", "*.shop.com"], "https://shop.com"),
        ],
    )
    def test_allowed(self, owner: Persona, track: Track, entries: list[str], origin: str) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=entries)
        assert_allowed(track({"api_key": key.plaintext, "origin": origin}), owner)

    @pytest.mark.parametrize(
        ("entries", "origin"),
        [
            (["*.shop.com"], "https://shop.com"),
            (["*.shop.com"], "https://evilshop.com"),
            (["shop.com"], "https://evilshop.com"),
            (["shop.com"], "https://www.shop.com"),
            (["shop.com"], "https://shop.com.evil.com"),
            (["*.shop.com"], "https://shop.com.evil.com"),
        ],
    )
    def test_refused(self, owner: Persona, track: Track, entries: list[str], origin: str) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=entries)
        assert_refused(track({"api_key": key.plaintext, "origin": origin}), owner)

    def test_no_origin_while_a_list_exists(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        assert_refused(track({"api_key": key.plaintext}), owner)

    def test_empty_origin_while_a_list_exists(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        assert_refused(track({"api_key": key.plaintext, "origin": ""}), owner)

    def test_sandboxed_null_origin_header(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        assert_refused(track({"api_key": key.plaintext}, HTTP_ORIGIN="null"), owner)

    def test_empty_list_allows_any_origin(self, owner: Persona, track: Track) -> None:
        assert owner.key.allowed_domains == []
        assert_allowed(track({"api_key": owner.secret, "origin": "https://anything.example"}), owner)

    def test_empty_list_allows_no_origin(self, owner: Persona, track: Track) -> None:
        assert_allowed(track({"api_key": owner.secret}), owner)

    def test_origin_header_when_the_body_has_none(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["*.shop.com"])
        assert_allowed(track({"api_key": key.plaintext}, HTTP_ORIGIN="https://m.shop.com"), owner)

    def test_origin_header_is_checked_too(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["*.shop.com"])
        assert_refused(track({"api_key": key.plaintext}, HTTP_ORIGIN="https://shop.com"), owner)

    def test_body_origin_is_preferred_over_the_header(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        response = track({"api_key": key.plaintext, "origin": "https://shop.com"}, HTTP_ORIGIN="https://evil.com")
        assert_allowed(response, owner)

    def test_body_origin_is_preferred_even_when_it_is_refused(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        response = track({"api_key": key.plaintext, "origin": "https://evil.com"}, HTTP_ORIGIN="https://shop.com")
        assert_refused(response, owner)

    def test_each_key_has_its_own_list(self, owner: Persona, track: Track) -> None:
        ApiKeyFactory(store=owner.store, allowed_domains=["other.com"])
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        assert_refused(track({"api_key": key.plaintext, "origin": "https://other.com"}), owner)
        assert_allowed(track({"api_key": owner.secret, "origin": "https://other.com"}), owner)


@pytest.mark.django_db
class TestKeyCreation:
    @pytest.mark.parametrize(
        ("raw", "stored"),
        [
            ("Shop.com", "shop.com"),
            ("https://shop.com/", "shop.com"),
            (" *.Shop.COM ", "*.shop.com"),
            ("https://SHOP.com:8443/path", "shop.com"),
        ],
    )
    def test_entries_are_stored_normalized(self, owner: Persona, raw: str, stored: str) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=[raw])
        assert ApiKey.objects.get(pk=key.pk).allowed_domains == [stored]

    def test_duplicates_and_blanks_collapse_in_order(self, owner: Persona) -> None:
        raw = ["Shop.com", "https://shop.com/", "", "  ", " *.Shop.COM ", "*.shop.com", "other.com"]
        key = ApiKeyFactory(store=owner.store, allowed_domains=raw)
        assert ApiKey.objects.get(pk=key.pk).allowed_domains == ["shop.com", "*.shop.com", "other.com"]

    @pytest.mark.parametrize("raw", ["sh op.com", "*.", "http://", "*", "*.*.shop.com", "shop..com", "-shop.com"])
    def test_invalid_entries_are_refused(self, owner: Persona, raw: str) -> None:
        keys_before = ApiKey.objects.count()
        with pytest.raises(ApiError) as caught:
            ApiKeyFactory(store=owner.store, allowed_domains=["shop.com", raw])
        assert caught.value.code == ErrorCode.INVALID_BODY
        assert caught.value.status == 400
        assert "allowed_domains" in caught.value.extra["fieldErrors"]
        assert ApiKey.objects.count() == keys_before


@pytest.mark.parametrize("entry", ["*.com", "*.co", "*.localhost"])
def test_a_wildcard_over_a_whole_top_level_domain_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="every site"):
        normalize_domain_entry(entry)
