"""The remote engine against a local fake server speaking ``/v1/chat/completions``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from compression_layer.compress.generative.remote import RemoteEngine
from compression_layer.compress.types import CompressRequest, Domain, EngineOutput
from compression_layer.errors import ConfigError, EngineError
from compression_layer.settings import GenerativeSettings, load_area

PROSE = Domain(kind="prose", confidence=1.0)
REQUEST = CompressRequest(engine="remote", rate=0.5, target_tokens=None)
TEXT = "Revenue grew 12% to $4.5 million in 2023 under CEO Dana Lee."


@dataclass
class FakeChat:
    """What the fake endpoint answers, and the requests it received."""

    reply: str = "rev +12%→$4.5M 2023 | CEO Dana Lee"
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _handler(chat: FakeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            chat.requests.append({"path": self.path, **body})
            chat.headers.append({k.lower(): v for k, v in self.headers.items()})
            if chat.status != 200:
                payload: dict[str, Any] = {"error": {"message": "boom", "type": "server_error"}}
            else:
                payload = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": chat.reply},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
            data = json.dumps(payload).encode("utf-8")
            self.send_response(chat.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def fake_chat() -> Iterator[tuple[FakeChat, str]]:
    chat = FakeChat()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(chat))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield chat, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


class KeepAll:
    name = "extractive"

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        return EngineOutput(text, self.name)


def _settings(url: str, **extra: Any) -> GenerativeSettings:
    return load_area(
        GenerativeSettings,
        remote_base_url=url,
        remote_model="compress-lora",
        remote_max_retries=0,
        **extra,
    )


def test_sends_the_training_prompt_greedy_with_a_cap(fake_chat: tuple[FakeChat, str]) -> None:
    chat, url = fake_chat
    out = RemoteEngine(_settings(url), fallback=KeepAll).run(TEXT, PROSE, REQUEST)
    assert out.text == chat.reply and out.engine == "remote" and out.adapter == "compress-lora"
    assert out.notes == []
    sent = chat.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["model"] == "compress-lora"
    assert sent["temperature"] == 0.0 and 16 < sent["max_tokens"] < 64
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][0]["content"].startswith("You are a semantic compression engine.")
    assert sent["messages"][1] == {"role": "user", "content": f"Compress:\n{TEXT}"}
    assert chat.headers[0]["authorization"] == "Bearer not-needed"


def test_guard_appends_or_falls_back(fake_chat: tuple[FakeChat, str]) -> None:
    chat, url = fake_chat
    chat.reply = "<think>hmm</think>revenue grew"
    out = RemoteEngine(_settings(url), fallback=KeepAll).run(TEXT, PROSE, REQUEST)
    assert out.text.startswith("revenue grew\nfacts: ") and "$4.5 million" in out.text
    assert any("appended" in n for n in out.notes)
    engine = RemoteEngine(_settings(url, fact_guard="fallback"), fallback=KeepAll)
    out = engine.run(TEXT, PROSE, REQUEST)
    assert out.engine == "extractive" and out.text == TEXT
    assert any("fell back to extractive" in n for n in out.notes)


def test_api_key_from_the_named_env_var(
    fake_chat: tuple[FakeChat, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat, url = fake_chat
    monkeypatch.setenv("MY_VLLM_KEY", "sk-local")
    RemoteEngine(_settings(url, remote_api_key_env="MY_VLLM_KEY")).generate(TEXT, REQUEST)
    assert chat.headers[0]["authorization"] == "Bearer sk-local"
    monkeypatch.delenv("MY_VLLM_KEY")
    with pytest.raises(ConfigError, match="MY_VLLM_KEY"):
        RemoteEngine(_settings(url, remote_api_key_env="MY_VLLM_KEY"))


def test_server_error_and_missing_config_are_clear(fake_chat: tuple[FakeChat, str]) -> None:
    chat, url = fake_chat
    chat.status = 500
    with pytest.raises(EngineError, match=r"remote engine at http://127\.0\.0\.1"):
        RemoteEngine(_settings(url)).generate(TEXT, REQUEST)
    with pytest.raises(ConfigError, match="remote_base_url"):
        RemoteEngine(load_area(GenerativeSettings))


def test_library_and_cli_reach_the_remote_engine(
    fake_chat: tuple[FakeChat, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from compression_layer import compress
    from compression_layer.cli.main import app
    from compression_layer.compress.engines import engine_names

    assert {"generative", "remote"} <= set(engine_names())
    chat, url = fake_chat
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__REMOTE_BASE_URL", url)
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__REMOTE_MODEL", "compress-lora")
    monkeypatch.setenv("COMPRESSION_LAYER_GENERATIVE__REMOTE_MAX_RETRIES", "0")
    result = compress(TEXT, engine="remote")
    assert result.engine == "remote" and result.compressed == chat.reply
    assert result.facts_missing == []
    out = CliRunner().invoke(app, ["compress", "-", "--engine", "remote", "--json"], input=TEXT)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["compressed"] == chat.reply


def test_cli_remote_without_an_endpoint_is_a_clear_error() -> None:
    from typer.testing import CliRunner

    from compression_layer.cli.main import app

    out = CliRunner().invoke(app, ["compress", "-", "--engine", "remote"], input=TEXT)
    assert out.exit_code == 2
    assert "remote_base_url" in out.output and "Traceback" not in out.output
