"""The one error type of the product and its codes (SPEC §4)."""

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_BODY = "invalid_body"
    UNAUTHORIZED = "unauthorized"
    INVALID_KEY = "invalid_key"
    INVALID_SESSION_TOKEN = "invalid_session_token"
    CREDIT_LIMIT_REACHED = "credit_limit_reached"
    END_CUSTOMER_QUOTA = "end_customer_quota"
    ACCOUNT_INACTIVE = "account_inactive"
    DOMAIN_NOT_ALLOWED = "domain_not_allowed"
    TOKEN_STORE_MISMATCH = "token_store_mismatch"
    CUSTOMER_INACTIVE = "customer_inactive"
    PLAN_NOT_FOUND = "plan_not_found"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    METADATA_TOO_LARGE = "metadata_too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"


STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.INVALID_BODY: 400,
    ErrorCode.METADATA_TOO_LARGE: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.INVALID_KEY: 401,
    ErrorCode.INVALID_SESSION_TOKEN: 401,
    ErrorCode.CREDIT_LIMIT_REACHED: 402,
    ErrorCode.END_CUSTOMER_QUOTA: 402,
    ErrorCode.ACCOUNT_INACTIVE: 403,
    ErrorCode.DOMAIN_NOT_ALLOWED: 403,
    ErrorCode.TOKEN_STORE_MISMATCH: 403,
    ErrorCode.CUSTOMER_INACTIVE: 403,
    ErrorCode.PLAN_NOT_FOUND: 403,
    ErrorCode.INSUFFICIENT_SCOPE: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UNAVAILABLE: 503,
}


class ApiError(Exception):
    """Raised by services and views; `genvoris.api` renders it as the SPEC §4 envelope.

    `extra` holds the fields a code defines (`reason`, `limit`, `used`, `fieldErrors`);
    `headers` carries response headers such as `Retry-After`.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        cause: str = "",
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = STATUS_BY_CODE[code]
        self.message = message
        self.detail = detail or message
        self.headers = headers or {}
        # A short fixed word for the metrics (`expired`, `bad_signature`); never in the body.
        self.cause = cause
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": str(self.code), "message": self.message, "detail": self.detail, **self.extra}


def invalid_field(field: str, message: str) -> ApiError:
    """A 400 about one field, in the shape of every validation error."""
    return ApiError(
        ErrorCode.INVALID_BODY, "The request is invalid.", detail=f"{field}: {message}", fieldErrors={field: [message]}
    )
