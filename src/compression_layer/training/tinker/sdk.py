"""The slice of the Tinker SDK the training loop uses, written down so it can be checked.

:data:`CONTRACT` lists every client method the loop calls with the keyword parameters it passes
(and how many it passes by position); :data:`TYPES` lists the request types it builds and the
response fields it reads. ``tests/training/test_tinker.py`` checks both against the installed SDK
with :func:`inspect.signature`, and checks the test fake against the same lists, so an SDK
release that renames something fails a test instead of a paid run.

Client calls return the SDK's futures; the loop awaits every one of them (``APIFuture`` and the
client-creation futures implement ``__await__``). The ``*_async`` twins are deprecated since
SDK 0.3x and are not used.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compression_layer.errors import ConfigError

API_KEY_ENV = "TINKER_API_KEY"


@dataclass(frozen=True)
class Call:
    """One SDK method the loop calls: keywords passed by name, how many passed by position."""

    owner: str
    method: str
    keywords: tuple[str, ...] = ()
    positional: int = 0


CONTRACT: tuple[Call, ...] = (
    Call("ServiceClient", "__init__", ("user_metadata",)),
    Call(
        "ServiceClient",
        "create_lora_training_client",
        ("base_model", "rank", "seed", "train_mlp", "train_attn", "train_unembed", "user_metadata"),
    ),
    Call(
        "ServiceClient",
        "create_training_client_from_state_with_optimizer",
        ("path", "user_metadata"),
    ),
    Call("ServiceClient", "close", ("status", "detail")),
    Call("TrainingClient", "forward_backward", ("data", "loss_fn")),
    Call("TrainingClient", "forward", ("data", "loss_fn")),
    # optim_step's first parameter was renamed (adam_params -> optim_params): pass it by position.
    Call("TrainingClient", "optim_step", (), positional=1),
    Call("TrainingClient", "save_state", ("name", "ttl_seconds")),
    Call("TrainingClient", "save_weights_for_sampler", ("name",)),
    Call("TrainingClient", "save_weights_external", ("name",)),
    Call("TrainingClient", "save_weights_and_get_sampling_client"),
    Call("TrainingClient", "get_tokenizer"),
    Call("SamplingClient", "sample", ("prompt", "num_samples", "sampling_params")),
    Call("RestClient", "__init__"),
    Call("RestClient", "get_external_weights_urls", ("tinker_path",)),
)

# Types the loop builds (constructor keywords) or reads (fields): ``types.<name>``.
TYPES: dict[str, tuple[str, ...]] = {
    "Datum": ("model_input", "loss_fn_inputs"),
    "AdamParams": ("learning_rate",),
    "SamplingParams": ("max_tokens", "temperature", "seed"),
    "ForwardBackwardOutput": ("loss_fn_outputs",),
    "SampleResponse": ("sequences",),
    "SampledSequence": ("tokens",),
    "SaveWeightsResponse": ("path",),
    "SaveWeightsForSamplerResponse": ("path",),
    "SaveWeightsExternalResponse": ("path",),
    "ExternalWeightsUrlsResponse": ("urls",),
}
LOSS_FN = "cross_entropy"


class MissingKeyError(ConfigError):
    """``TINKER_API_KEY`` is not set: nothing is sent and nothing is written."""


def require_api_key() -> str:
    """The key from the environment, or a :class:`MissingKeyError` saying how to get one."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingKeyError(
            f"{API_KEY_ENV} is not set: create an API key in the Tinker console and "
            f"`export {API_KEY_ENV}=...`; `--dry-run` prints the cost estimate without one"
        )
    return key


def import_tinker() -> Any:
    """The ``tinker`` module, or a :class:`ConfigError` naming the extra that installs it."""
    try:
        import tinker
    except ImportError as exc:
        raise ConfigError(
            "Tinker training needs the tinker SDK: pip install 'compression-layer[tinker]'"
        ) from exc
    return tinker


@dataclass(frozen=True)
class Clients:
    """Constructors of the Tinker clients; the tests hand in a fake with the same interface.

    Requests are always built from the installed SDK's ``tinker.types``, fake or not.
    """

    service: Callable[..., Any]
    rest: Callable[[], Any]

    @classmethod
    def real(cls) -> Clients:
        """The installed SDK's ``ServiceClient`` / ``RestClient`` (reading ``TINKER_API_KEY``)."""
        tinker = import_tinker()
        return cls(service=tinker.ServiceClient, rest=tinker.RestClient)


async def download_external(rest: Any, tinker_path: str, dest: Path) -> list[Path]:
    """Fetch every file of an external-weights checkpoint into the folder ``dest`` (signed URLs).

    Files land in ``<dest>.part`` first and the folder is renamed when all are complete, so an
    interrupted download never leaves an adapter that looks whole.
    """
    import shutil

    import anyio

    response = await rest.get_external_weights_urls(tinker_path=tinker_path)
    if not response.urls:
        raise ConfigError(f"Tinker export {tinker_path} has no files")
    part = dest.with_name(dest.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    root = part.resolve()
    for name, url in sorted(response.urls.items()):
        target = (part / name).resolve()
        if not target.is_relative_to(root):
            raise ConfigError(f"Tinker export {tinker_path} names a file outside it: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(_fetch, url, target)
    shutil.rmtree(dest, ignore_errors=True)
    part.replace(dest)
    return sorted(p for p in dest.rglob("*") if p.is_file())


def _fetch(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=120) as response, target.open("wb") as fh:
        while chunk := response.read(1 << 20):
            fh.write(chunk)
