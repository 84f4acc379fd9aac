"""Reading responses: JSON bodies into models, and error responses into typed errors.

Error bodies come in several shapes: OpenAI's ``{"error": {...}}``, FastAPI's ``{"detail": "..."}`` or
``{"detail": [{"loc": ..., "msg": ...}]}``, gateways' ``{"message": ...}``, plain text, or nothing at all.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

import httpx
from pydantic import BaseModel, ValidationError

from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)

_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def model_parser(model: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    def parse(response: httpx.Response) -> Any:
        try:
            data = response.json()
            if isinstance(data, list) and "has_more" in model.model_fields:  # a bare array (Together's list)
                data = {"object": "list", "data": data, "has_more": False}
            return model.model_validate(data)
        except (ValueError, ValidationError) as exc:
            raise APIError(
                f"{response.request.method} {response.request.url.path}: the response is not a valid "
                f"{model.__name__}: {str(exc)[:300]}",
                status=response.status_code,
                request_id=response.headers.get("x-request-id"),
            ) from exc

    return parse


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _error_fields(response: httpx.Response) -> tuple[str, Optional[str], Optional[str], Optional[str]]:
    """(message, code, type, param) from OpenAI's {"error": {...}}, FastAPI's {"detail": ...}, or plain text."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body.get("detail"))
        if isinstance(err, dict) and isinstance(err.get("error"), dict):  # {"detail": {"error": {...}}}
            err = err["error"]
        if isinstance(err, dict):
            message = _text(err.get("message")) or json.dumps(err)[:500]
            return message, _text(err.get("code")), _text(err.get("type")), _text(err.get("param"))
        if isinstance(err, str) and err:
            return err, _text(body.get("code")), _text(body.get("type")), _text(body.get("param"))
        if isinstance(err, list) and err:  # FastAPI validation errors: [{"loc": [...], "msg": ...}, ...]
            parts, locs = [], []
            for item in err:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc") or [])
                    locs.append(loc)
                    parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
                else:
                    parts.append(str(item))
            return "; ".join(parts), None, None, locs[0] if len(locs) == 1 else None
        if isinstance(body.get("message"), str):
            return body["message"], _text(body.get("code")), _text(body.get("type")), None
    if text:
        return text[:500], None, None, None
    return response.reason_phrase or f"HTTP {response.status_code}", None, None, None


def error_from_response(response: httpx.Response, redact: Callable[[str], str] = lambda s: s) -> APIError:
    """The typed error for a non-2xx response; ``redact`` scrubs the API key from text a server echoed."""
    status = response.status_code
    message, code, type_, param = _error_fields(response)
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else APIError)
    scrub = lambda text: None if text is None else redact(text)  # noqa: E731 - every field a server sent
    hint, wrong_url = _hint(response)
    error = cls(
        redact(message),
        status=status,
        code=scrub(code),
        type=scrub(type_),
        param=scrub(param),
        request_id=scrub(response.headers.get("x-request-id")),
        hint=hint,
    )
    error._wrong_base_url = wrong_url
    return error


#: Routes every Batch API has; a 404 on one of them (not on an id under it) means the base URL is wrong.
_COLLECTION_ROUTES = ("/batches", "/files")


def _hint(response: httpx.Response) -> tuple[Optional[str], bool]:
    """(how to fix it, whether the base URL is wrong) for errors whose cause is the client's configuration."""
    status = response.status_code
    if status == 401:
        return "check api_key= or OPENAI_API_KEY (as the kernel sees it)", False
    if status == 403:
        return "check that this key (api_key= / OPENAI_API_KEY), its project and organization may use batches", False
    path = response.request.url.path.rstrip("/")
    route = next((r for r in _COLLECTION_ROUTES if path.endswith(r)), None)
    if status != 404 or route is None:
        return None, False
    url = response.request.url
    port = f":{url.port}" if url.port else ""
    base = f"{url.scheme}://{url.host}{port}{path[: -len(route)]}"  # never userinfo: it may hold a secret
    if base.endswith("/v1") or base.endswith("/openai"):
        return f"{base} has no {route} route: does this provider offer the Batch API?", True
    return f"{base} has no {route} route: the base URL should end in /v1 (like https://api.openai.com/v1)", True
