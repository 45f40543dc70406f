import hashlib

from stores.models import ApiKey, Store


def api_key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_by_plaintext(plaintext: str) -> ApiKey | None:
    """The key with its store, or None when the text is not a key of a known kind."""
    if not plaintext.startswith(tuple(ApiKey.PREFIXES.values())) or len(plaintext) > 100:
        return None
    return ApiKey.objects.select_related("store").filter(key_hash=api_key_hash(plaintext)).first()


def store_by_public_id(public_id: str) -> Store | None:
    return Store.objects.filter(public_id=public_id).first()
