"""What arrives on the wire, checked before the SDK sees it: one JSON-RPC message, or a refusal.

Every payload gets an answer. The SDK drops what it cannot parse on stdio (the client waits for
its own timeout), so both transports pass each payload through ``check_message`` first and
answer a ``Refusal`` themselves: -32700 for text that is not JSON (or not valid Unicode), -32600
for JSON that is not one JSON-RPC message (a batch, a scalar, nesting past the parser's limit,
a message over the size limit, an ``id`` that is null or fractional).

A refusal carries the request's ``id`` whenever it can be read, even from a message that does
not parse as a whole (the top-level members are scanned up to the damage): clients match
answers by id, and an error with ``id: null`` leaves the caller waiting. JSON-RPC 2.0 asks for
``null`` only when the id cannot be detected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pydantic_core
from mcp_types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    RequestId,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError

from compression_layer.settings import ServerSettings

# The SDK's JSON parser (jiter) refuses nesting past this depth.
MAX_DEPTH = 200
# How much of a message the id scanner reads: the id comes first in practice.
SCAN_CHARS = 1 << 20
_HIGH = r"\\u[dD][89abAB][0-9a-fA-F]{2}"
_LOW = r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_LONE_SURROGATE = re.compile(rf"{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW}")
_WS = re.compile(r"[ \t\r\n]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_LITERAL = re.compile(r"true|false|null")
_STRUCTURE = re.compile(r'[\[\]{}"]')
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def message_limit(settings: ServerSettings) -> int:
    """The largest message accepted, in bytes: the text limit plus JSON escaping headroom."""
    return settings.max_text_bytes * 2 + 65_536


@dataclass(frozen=True)
class Refusal:
    """An error answer to a payload that never reached the server's handlers."""

    code: int
    message: str
    id: RequestId | None = None

    def reply(self) -> JSONRPCError:
        return JSONRPCError(
            jsonrpc="2.0", id=self.id, error=ErrorData(code=self.code, message=self.message)
        )

    def body(self) -> bytes:
        return self.reply().model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8")


def check_message(raw: bytes, *, one_per: str = "line") -> JSONRPCMessage | Refusal:
    """``raw`` as one JSON-RPC message, or why it is refused (``one_per`` names the framing)."""
    try:
        message = jsonrpc_message_adapter.validate_json(raw, by_name=False)
    except ValidationError as exc:
        return _diagnose(raw, exc, one_per)
    if isinstance(message, JSONRPCNotification) and b'"id"' in raw:
        # A null or fractional id makes the SDK read a request as a notification, never answered.
        parsed = pydantic_core.from_json(raw)
        if isinstance(parsed, dict) and "id" in parsed:
            return Refusal(
                INVALID_REQUEST,
                f"Invalid Request: id must be a string or an integer, got {_kind(parsed['id'])}",
            )
    return message


def too_large(size: int, limit: int, head: bytes) -> Refusal:
    """The refusal of a message of ``size`` bytes over ``limit`` (``head``: its first bytes)."""
    return Refusal(
        INVALID_REQUEST,
        f"Invalid Request: message of {size} bytes is over the {limit}-byte limit "
        "(COMPRESSION_LAYER_SERVER__MAX_TEXT_BYTES sets it; or pass files with `paths`)",
        scan_id(head),
    )


def _diagnose(raw: bytes, exc: ValidationError, one_per: str) -> Refusal:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            head = raw[: bad.start].decode("utf-8")
            return Refusal(
                PARSE_ERROR, f"Parse error: not valid UTF-8 (byte {bad.start})", scan_id(head)
            )
        reason = str(first["msg"]).removeprefix("Invalid JSON: ")
        if "recursion limit" in reason:
            return Refusal(
                INVALID_REQUEST,
                f"Invalid Request: JSON nested deeper than {MAX_DEPTH} levels",
                scan_id(text),
            )
        lone = _LONE_SURROGATE.search(text)
        if lone:
            return Refusal(
                PARSE_ERROR,
                f"Parse error: lone surrogate {lone.group()} at character {lone.start()}; JSON "
                "text must be valid Unicode (escape the character as a surrogate pair)",
                scan_id(text),
            )
        return Refusal(PARSE_ERROR, f"Parse error: {reason}", scan_id(text))
    parsed = pydantic_core.from_json(raw)  # it is JSON: only its shape was refused
    if isinstance(parsed, list):
        return Refusal(
            INVALID_REQUEST,
            "Invalid Request: JSON-RPC batches (arrays) are not supported by MCP since "
            f"2025-06-18; send one message per {one_per}",
        )
    if not isinstance(parsed, dict):
        return Refusal(
            INVALID_REQUEST,
            f"Invalid Request: a JSON-RPC message is an object, got {_kind(parsed)}",
        )
    request_id = parsed.get("id")
    return Refusal(
        INVALID_REQUEST,
        f"Invalid Request: {_shape_problem(parsed, first)}",
        request_id if _is_id(request_id) else None,
    )


def _shape_problem(message: dict[str, Any], first: Any) -> str:
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if "id" in message and not _is_id(message["id"]):
        return f"id must be a string or an integer, got {_kind(message['id'])}"
    if "method" in message:
        if not isinstance(message["method"], str):
            return f"method must be a string, got {_kind(message['method'])}"
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            return f"params must be an object, got {_kind(params)}"
    elif not {"result", "error"} & set(message):
        return "no method (nor result or error)"
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'not a JSON-RPC message')}" if where else "malformed"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a fractional number"
    return {dict: "an object", list: "an array", str: "a string", int: "an integer"}.get(
        type(value), type(value).__name__
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def scan_id(payload: str | bytes) -> RequestId | None:
    """The top-level ``id`` of a JSON object that may not parse as a whole, if it comes before
    the damage (and within the first ``SCAN_CHARS``); nested containers are skipped without
    recursion, so a 100k-deep array costs one pass."""
    text = payload[:SCAN_CHARS]
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        return _scan_members(text)
    except (ValueError, IndexError):  # the damage came first
        return None


def _scan_members(text: str) -> RequestId | None:
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if text[pos] != "{":
        return None
    pos += 1
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos] != '"':
            return None
        key, pos = _scan_string(text, pos)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos] != ":":
            return None
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        value, pos = _scan_value(text, pos)
        if key == "id":
            return value if _is_id(value) else None
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos] != ",":
            return None
        pos += 1


def _scan_value(text: str, pos: int) -> tuple[Any, int]:
    """A scalar's value and end; containers are skipped and read as ``None``."""
    char = text[pos]
    if char == '"':
        return _scan_string(text, pos)
    if char in "[{":
        depth = 0
        while True:
            found = _STRUCTURE.search(text, pos)
            if found is None:
                raise ValueError("unterminated container")
            pos = found.end()
            mark = found.group()
            if mark == '"':
                pos = _string_end(text, found.start())
            elif mark in "[{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return None, pos
    number = _NUMBER.match(text, pos)
    if number:
        value = number.group()
        fractional = number.group(1) or number.group(2)
        return (float(value) if fractional else int(value)), number.end()
    literal = _LITERAL.match(text, pos)
    if literal:
        return {"true": True, "false": False, "null": None}[literal.group()], literal.end()
    raise ValueError("not a JSON value")


def _string_end(text: str, pos: int) -> int:
    found = _STRING.match(text, pos)
    if found is None:
        raise ValueError("unterminated string")
    return found.end()


def _scan_string(text: str, pos: int) -> tuple[str, int]:
    end = _string_end(text, pos)
    value = json.loads(text[pos:end])
    if not isinstance(value, str):
        raise ValueError("not a string")
    value.encode("utf-8")  # a lone surrogate cannot go back out in an answer (UnicodeError)
    return value, end
