"""Provider failures in words: each SDK exception and each wrong response shape becomes a
:class:`ProviderError` that says what happened and what to check, with the key scrubbed out.

It reads the exceptions' shape (``status_code`` or ``code``, ``response.headers``, ``body``, the
``__cause__`` chain) rather than their classes, so it imports none of the SDKs, and one table
serves the Anthropic, OpenAI and google-genai clients alike.
"""

from __future__ import annotations

import email.utils
import json
import re
import socket
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from compression_layer.validation.errors import ProviderError, redact

if TYPE_CHECKING:
    from compression_layer.validation.providers.base import ProviderConfig

API_NAMES = {
    "anthropic": "Anthropic",
    "openai": "OpenAI",
    "openai-compatible": "OpenAI-compatible",
    "gemini": "Gemini",
}
DEFAULT_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
}
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SNIPPET = 160


def endpoint_url(config: ProviderConfig) -> str:
    """The URL the provider talks to: its ``base_url``, else the SDK's default."""
    return config.base_url or DEFAULT_URLS.get(config.kind, "the SDK's default endpoint")


def api_hint(config: ProviderConfig) -> str:
    """The question to ask when the answer is not shaped like the API's."""
    name = API_NAMES.get(config.kind, config.kind)
    if config.base_url:
        compatible = name if name.endswith("-compatible") else f"{name}-compatible"
        article = "an" if compatible[0] in "AEIOU" else "a"
        return f"is base_url {config.base_url} {article} {compatible} API?"
    return f"the {name} endpoint answered in an unexpected format: is a proxy in between?"


def field(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``: SDK objects built without validation may hold plain dicts."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def usage_tokens(usage: Any, *names: str) -> list[int]:
    """Integer token counts from a usage object; 0 for a count the endpoint left out (local
    OpenAI-compatible servers may send no usage at all)."""
    values = [field(usage, name) if usage is not None else None for name in names]
    return [int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0 for v in values]


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def describe_body(text: str) -> str:
    """Words for a body that is not the JSON object an API answers with."""
    stripped = text.lstrip()
    if not stripped:
        return "an empty body"
    if stripped.startswith("<"):
        title = _TITLE.search(stripped)
        named = f" titled {_snippet(title.group(1))!r}" if title else ""
        return f"an HTML page{named} instead of JSON"
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return f"text that is not JSON ({_snippet(stripped)!r})"
    if isinstance(value, str):
        return f"a JSON string ({_snippet(value)!r}) where a response object was expected"
    return f"a JSON {type(value).__name__} where a response object was expected"


def wrong_shape(config: ProviderConfig, model: str, what: str) -> ProviderError:
    """The endpoint answered 200 with something that is not this API's response."""
    return config.error(
        model, f"the endpoint returned {what} ({api_hint(config)})", reason="bad_response"
    )


def missing(config: ProviderConfig, model: str, name: str, value: Any) -> ProviderError:
    """A required field is absent (``value is None``) or of the wrong type."""
    if value is None:
        return wrong_shape(config, model, f"a response without {name!r}")
    kind = "a string" if isinstance(value, str) else f"a {type(value).__name__}"
    return wrong_shape(config, model, f"{name!r} as {kind}, not the expected object or list")


def check_object(config: ProviderConfig, model: str, response: Any) -> None:
    """Raise when the SDK handed back text (an HTML page, a JSON string) instead of an object.

    The Anthropic and OpenAI SDKs return the body as ``str`` when it is not a JSON object.
    """
    if isinstance(response, str | bytes):
        text = response.decode("utf-8", "replace") if isinstance(response, bytes) else response
        if text.lstrip().startswith("<") or not text.strip():
            raise wrong_shape(config, model, describe_body(text))
        what = f"a bare string ({_snippet(text)!r}) where a JSON object was expected"
        raise wrong_shape(config, model, what)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _status(exc: BaseException) -> int | None:
    for name in ("status_code", "code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    return None


def _headers(exc: BaseException) -> Any:
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None) or {}


def retry_after_s(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), if sent."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(str(value)) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def _server_message(exc: BaseException) -> str:
    """What the server said, from the SDK's parsed body (any of the three layouts)."""
    for source in (getattr(exc, "body", None), getattr(exc, "details", None)):
        if isinstance(source, dict):
            inner = source.get("error", source)
            if isinstance(inner, dict) and inner.get("message"):
                return str(inner["message"])
            if isinstance(inner, str):
                return inner
        elif isinstance(source, str) and source:
            return source
    message = getattr(exc, "message", None)
    return str(message) if message else ""


def _said(message: str) -> str:
    if not message:
        return ""
    if message.lstrip().startswith("<"):
        return f"; the body was {describe_body(message)}"
    return f"; server said: {_snippet(message)}"


def _http_error(
    config: ProviderConfig, model: str, exc: BaseException, status: int
) -> ProviderError:
    said = _server_message(exc)
    wait = retry_after_s(_headers(exc))
    env = f"the key in {config.key_env}" if config.key_env else "the key"
    url = endpoint_url(config)
    fields: dict[str, Any] = {"status": status}
    if status == 401:
        # The server's words are kept (scrubbed of the key: some echo it back).
        text = f"401 Unauthorized: {env} was rejected by {url}; check that it is current and "
        text += f"meant for this endpoint{_said(said)}"
        fields["reason"] = "auth"
    elif status == 403:
        text = f"403 Forbidden: {env} may not use {model!r} at {url}; check the key's project, "
        text += f"region or model access{_said(said)}"
        fields["reason"] = "forbidden"
    elif status == 404:
        fields["reason"] = "not_found"
        if "model" in said.lower() or model in said:
            text = f"404 Not Found: model {model!r} is not available at {url}; check the model "
            text += f"id in the catalog (`compression-layer config show validation`){_said(said)}"
        else:
            slash = (
                " (OpenAI-compatible servers usually end in /v1)" if "openai" in config.kind else ""
            )
            text = f"404 Not Found: {url} has no such route; is base_url right{slash}?{_said(said)}"
    elif status in (400, 413, 422):
        text = f"{status}: the endpoint refused the request{_said(said)}"
        fields["reason"] = "bad_request"
    elif status in (408, 409, 429):
        asked = f" (Retry-After {wait:g} s)" if wait is not None else ""
        label = "429 Too Many Requests: rate limited" if status == 429 else f"{status}: busy"
        text = f"{label}{asked}{_said(said)}"
        fields.update(reason="rate_limited", retryable=True, retry_after=wait)
    elif status >= 500:
        if said.lstrip().startswith("<"):
            text = f"{status} from a gateway: the body was {describe_body(said)}, not an API "
            text += f"error; the API behind {url} is down or unreachable"
        else:
            text = f"{status}: the API failed or is overloaded{_said(said)}"
        fields.update(reason="server", retryable=True, retry_after=wait)
    else:
        text = f"HTTP {status}{_said(said)}"
    return config.error(model, text, **fields)


def _bad_json(config: ProviderConfig, model: str, exc: json.JSONDecodeError) -> ProviderError:
    doc = exc.doc or ""
    stripped = doc.lstrip()
    if not stripped or stripped.startswith("<"):
        return wrong_shape(config, model, describe_body(doc))
    truncated = exc.pos >= len(doc.rstrip()) - 1
    what = (
        f"JSON cut off after {len(doc)} characters (a truncated response)"
        if truncated
        else f"invalid JSON ({exc.msg} at character {exc.pos})"
    )
    error = wrong_shape(config, model, what)
    return error.with_detail(error.detail, retryable=truncated)


def describe_exception(config: ProviderConfig, model: str, exc: BaseException) -> ProviderError:
    """A :class:`ProviderError` in words for any exception an SDK call raised."""
    if isinstance(exc, ProviderError):
        return exc
    status = _status(exc)
    if status is not None:
        return _http_error(config, model, exc, status)
    chain = _chain(exc)
    url = endpoint_url(config)
    for link in chain:
        if isinstance(link, json.JSONDecodeError):
            return _bad_json(config, model, link)
    for link in chain:
        if type(link).__name__ == "ValidationError" and type(link).__module__.startswith(
            "pydantic"
        ):
            errors: list[Any] = getattr(link, "errors", list)()
            where = ".".join(str(p) for p in errors[0]["loc"]) if errors else "?"
            return wrong_shape(config, model, f"a response whose {where!r} has an unexpected type")
    if any(isinstance(link, socket.gaierror) for link in chain):
        host = urlsplit(url).hostname or url
        return config.error(
            model,
            f"could not resolve the host name {host!r}: check base_url and the network",
            reason="dns",
        )
    if any(isinstance(link, ConnectionRefusedError) for link in chain):
        return config.error(
            model,
            f"connection refused by {url}: is the server running, and is base_url right?",
            reason="connection",
        )
    if any("Timeout" in type(link).__name__ or isinstance(link, TimeoutError) for link in chain):
        return config.error(
            model,
            f"no response from {url} within timeout_s ({config.timeout_s:g} s)",
            reason="timeout",
            retryable=True,
        )
    if any(
        "Connect" in type(link).__name__ or isinstance(link, ConnectionError | OSError)
        for link in chain
    ):
        cause = next((str(link) for link in reversed(chain) if str(link)), type(exc).__name__)
        return config.error(
            model,
            f"could not connect to {url} ({_snippet(cause)}): check base_url and the network",
            reason="connection",
            retryable=True,
        )
    if isinstance(exc, AttributeError | TypeError | KeyError | IndexError):
        return wrong_shape(
            config, model, f"a response of an unexpected shape ({type(exc).__name__}: {exc})"
        )
    return config.error(model, f"{type(exc).__name__}: {_snippet(str(exc))}")


def scrub(text: str, config: ProviderConfig) -> str:
    """``text`` without the provider's key."""
    return redact(text, [config.api_key or ""])
