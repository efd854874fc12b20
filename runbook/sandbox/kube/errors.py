"""API errors as the server returns them: a `Status` object with code and reason."""

from __future__ import annotations

from typing import Any

from .common import Obj

REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error answered as a Status body with an HTTP code."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: Obj | None = None, headers: dict[str, str] | None = None,
                 plain: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = dict(headers or {})  # extra response headers (Retry-After)
        self.plain = plain  # answered as text/plain, not a Status (API Priority and Fairness)

    def status(self) -> Obj:
        return failure_status(self.code, self.message, self.reason, self.details)


def failure_status(code: int, message: str, reason: str, details: Obj | None = None) -> Obj:
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message, "reason": reason}
    if details:
        body["details"] = details
    body["code"] = code
    return body


def success_status(details: Obj | None = None) -> Obj:
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return body


def qualified(plural: str, group: str) -> str:
    """The resource name as errors spell it: "pods", "deployments.apps"."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    details: Obj = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return ApiError(404, f'{qualified(plural, group)} "{name}" not found', "NotFound", details)


def already_exists(plural: str, group: str, name: str) -> ApiError:
    details: Obj = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return ApiError(409, f'{qualified(plural, group)} "{name}" already exists', "AlreadyExists",
                    details)


def conflict(plural: str, group: str, name: str) -> ApiError:
    details: Obj = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return ApiError(409, f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again", "Conflict", details)


def gone(requested: int | str, current: int) -> ApiError:
    return ApiError(410, f"too old resource version: {requested} ({current})", "Expired")


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 with causes given as (reason, field, message) triples."""
    listed: list[Any] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    text = ", ".join(f"{f}: {m}" for _r, f, m in causes)
    details: Obj = {"name": name, "kind": kind, "causes": listed}
    if group:
        details["group"] = group
    what = f"{kind}.{group}" if group else kind
    return ApiError(422, f'{what} "{name}" is invalid: {text}', "Invalid", details)


def too_many_requests(retry_after: int) -> ApiError:
    """What API Priority and Fairness answers when it rejects a request: 429, a Retry-After
    header and a plain-text body (apiserver's filters.tooManyRequests, not a Status)."""
    return ApiError(429, "Too many requests, please try again later.", "TooManyRequests",
                    headers={"Retry-After": str(retry_after)}, plain=True)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")
