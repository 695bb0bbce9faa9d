"""The generative engine: an instruction model (Qwen3 class, MLX format) plus a LoRA adapter.

The prompt is exactly the training format (the seed pairs' system prompt, ``Compress:\\n<input>``)
through the model's chat template; decoding is greedy and stops at the end of the turn. The output
cap follows the input size and the requested rate. Every output passes a fact guard of its own:
missing facts are appended as a compact ``facts:`` line (lost operators such as "not" or
"unless" as the original sentences that hold them), or the call falls back to the extractive
engine (``GenerativeSettings.fact_guard``); the output's notes say which.

Base weights are loaded once per process and shared: each adapter gets a copy of the module tree
whose arrays are the base model's own arrays, with LoRA layers applied on the copy only. Swapping
adapters therefore allocates only the LoRA weights, and the old copy is freed when its last
request finishes. mlx-lm is imported inside functions so the package works without the extra.
"""

from __future__ import annotations

import copy
import queue
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from compression_layer.adapters.registry import AdapterRegistry
from compression_layer.compress.generative.guard import extractive_fallback, guard_output
from compression_layer.compress.generative.prompt import messages_for, output_cap, strip_thinking
from compression_layer.compress.types import CompressRequest, Domain, Engine, EngineOutput
from compression_layer.errors import EngineError
from compression_layer.settings import CompressSettings, GenerativeSettings, load_area

T = TypeVar("T")


class _MlxThread:
    """The one thread every mlx call (base load, adapter load, generation) runs on.

    mlx binds lazy arrays to the stream of the thread that built them, and evaluating them from
    another thread fails ("There is no Stream(cpu, 0) in current thread"), so, as mlx-lm's own
    server does, one thread does all of it; the server's workers and the hot-swap loader wait.

    It is a daemon thread that lives as long as the process. A worker that ends (as a
    ThreadPoolExecutor's does at interpreter exit) runs mlx's thread-local destructors, and its
    compile cache holds Python objects: destroyed while the interpreter finalizes, that aborted
    the process ("terminate called without an active exception", exit status 134). A daemon
    blocked on its queue is never unwound, so nothing of mlx is torn down under a dying
    interpreter.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            fn, future = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # delivered to the caller, who re-raises it
                future.set_exception(exc)

    def run(self, fn: Callable[[], T]) -> T:
        thread = self._thread
        if thread is not None and threading.get_ident() == thread.ident:
            return fn()  # re-entrant: already on the mlx thread
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="mlx", daemon=True)
                self._thread.start()
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future.result()


_mlx = _MlxThread()


def on_mlx_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the process's mlx thread and return its result (re-entrant)."""
    return _mlx.run(lambda: fn(*args))


def resolve_base_model(name_or_path: str) -> Path:
    """Local folder of the base model: the path itself, or a repo id found in the local HF cache.

    Never downloads; raises :class:`EngineError` saying where it looked and how to get the model.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path
    looked = [str(path)]
    if not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", name_or_path):
        try:
            from huggingface_hub import snapshot_download

            cached = Path(snapshot_download(name_or_path, local_files_only=True))
            if (cached / "config.json").is_file():
                return cached
        except Exception:  # any miss in the offline cache means "not on this machine"
            looked.append(f"the Hugging Face cache (repo {name_or_path})")
    raise EngineError(
        f"base model {name_or_path!r} is not on this machine (looked at: {', '.join(looked)}). "
        f"Get it with `huggingface-cli download {name_or_path}` (an MLX-format repo such as "
        "mlx-community/Qwen3-4B-Instruct-2507-4bit), or point "
        "COMPRESSION_LAYER_GENERATIVE__BASE_MODEL (or base_model in generative.yaml in the "
        "config dir) "
        "at a local MLX model folder."
    )


@dataclass
class GenerativeModel:
    """A model ready to generate: LoRA-wrapped module tree, tokenizer, and what it came from."""

    model: Any
    tokenizer: Any
    base_path: Path
    adapter_name: str | None = None
    adapter_path: Path | None = None


_base_lock = threading.Lock()
_bases: dict[Path, tuple[Any, Any]] = {}


def _base(path: Path) -> tuple[Any, Any]:
    """Load a base model once per process (keyed by its resolved folder)."""
    try:
        from mlx_lm.utils import load as mlx_load
    except ImportError as exc:
        raise EngineError(
            "the generative engine needs mlx-lm: pip install 'compression-layer[mlx]' "
            "(mlx on Apple silicon, mlx[cpu] on Linux; '[mlx-cuda]' for mlx[cuda] on NVIDIA)"
        ) from exc
    key = path.resolve()
    with _base_lock:
        if key not in _bases:
            try:
                loaded = mlx_load(str(key))
                model, tokenizer = loaded[0], loaded[1]
            except Exception as exc:
                raise EngineError(f"cannot load base model at {key}: {exc}") from exc
            _bases[key] = (model, tokenizer)
        return _bases[key]


def _shared_copy(base: Any) -> Any:
    """A new module tree over the *same* arrays (deepcopy told to reuse every parameter)."""
    from mlx.utils import tree_flatten

    leaves: Any = tree_flatten(base.parameters())
    memo: dict[int, Any] = {id(pair[1]): pair[1] for pair in leaves}
    return copy.deepcopy(base, memo)


def load_model(
    base_model: str, adapter_path: Path | None = None, adapter_name: str | None = None
) -> GenerativeModel:
    """Base model (shared, loaded once) with ``adapter_path``'s LoRA weights on a private copy."""
    base_path = resolve_base_model(base_model)
    base, tokenizer = on_mlx_thread(_base, base_path)
    if adapter_path is None:
        return GenerativeModel(base, tokenizer, base_path)
    model = on_mlx_thread(_with_adapter, base, adapter_path)
    name = adapter_name or adapter_path.name
    return GenerativeModel(model, tokenizer, base_path, name, adapter_path)


def _with_adapter(base: Any, adapter_path: Path) -> Any:
    import mlx.core as mx
    from mlx_lm.tuner.utils import load_adapters

    model = _shared_copy(base)
    try:
        load_adapters(model, str(adapter_path))
        mx.eval(model.parameters())  # read the weights now: a bad file fails here, not mid-request
    except Exception as exc:
        raise EngineError(f"cannot load adapter {adapter_path}: {exc}") from exc
    model.eval()
    return model


class GenerativeEngine:
    """Engine contract over a :class:`GenerativeModel` (see the module docstring)."""

    name = "generative"

    def __init__(
        self,
        model: GenerativeModel,
        settings: GenerativeSettings | None = None,
        compress_settings: CompressSettings | None = None,
        fallback: Callable[[], Engine] | None = None,
    ) -> None:
        self.model = model
        self.settings = settings or load_area(GenerativeSettings)
        cs = compress_settings or load_area(CompressSettings)
        self.fallback: Callable[[], Engine] = fallback or (lambda: extractive_fallback(cs))
        self.adapter_name = model.adapter_name

    def generate(self, text: str, request: CompressRequest) -> str:
        """Greedy completion of the compression prompt for ``text`` (thinking blocks removed)."""
        from mlx_lm.generate import generate

        tok = self.model.tokenizer
        prompt = tok.apply_chat_template(
            messages_for(text), add_generation_prompt=True, enable_thinking=False
        )
        n_input = len(tok.encode(text))
        cap = output_cap(n_input, request, self.settings)
        out = on_mlx_thread(lambda: generate(self.model.model, tok, prompt, max_tokens=cap))
        return strip_thinking(str(out))

    def run(self, text: str, domain: Domain, request: CompressRequest) -> EngineOutput:
        """Compress ``text``; the guard's action (if any) is in the output's notes."""
        out = EngineOutput(self.generate(text, request), self.name, self.adapter_name)
        return guard_output(text, out, domain, request, self.settings, self.fallback)


_cache_lock = threading.Lock()
_models: dict[tuple[str, str | None], GenerativeModel] = {}


def adapter_for(settings: GenerativeSettings) -> tuple[Path | None, str | None]:
    """The adapter folder to use: the configured folder or registry name, else the registry's."""
    registry = AdapterRegistry()
    if settings.adapter:
        folder = Path(settings.adapter).expanduser()
        if folder.is_dir():
            return folder, folder.name
        record = registry.show(settings.adapter)
        return record.path, record.name
    active = registry.active_record("generative")
    return (active.path, active.name) if active else (None, None)


def engine_from_settings(
    settings: GenerativeSettings | None = None, compress_settings: CompressSettings | None = None
) -> GenerativeEngine:
    """A generative engine for the configured base model and adapter (models cached per pair)."""
    cfg = settings or load_area(GenerativeSettings)
    path, name = adapter_for(cfg)
    key = (cfg.base_model, str(path) if path else None)
    with _cache_lock:
        if key not in _models:
            _models[key] = load_model(cfg.base_model, path, name)
        model = _models[key]
    return GenerativeEngine(model, cfg, compress_settings)
