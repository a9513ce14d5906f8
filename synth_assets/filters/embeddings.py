"""Sentence embeddings for the semantic filters, from a local encoder loaded only when first needed.

The filters never build the encoder: whoever runs them builds one with embedder_for(spec) and passes
it in, as Dagster passes a resource, so tests and the UI can swap it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from synth_assets.models.embedded import resolve_encoder

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec


class MissingEmbedderError(ValueError):
    """A filter the spec turns on compares sentence embeddings, and no embedder was given to run it."""


class TextEmbedder:
    """Unit-length sentence embeddings (so a dot product is a cosine); one model load per instance.

    Built only when a spec turns on an embedding filter, and shared by the filters of one run, so
    a pipeline that uses none of them never imports torch.
    """

    def __init__(self, model: str = "embedded:all-minilm-l6-v2", batch_size: int = 64, device: str | None = None):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self._encoder: Any = None

    def _load(self) -> Any:
        if self._encoder is None:
            from sentence_transformers import SentenceTransformer

            self._encoder = SentenceTransformer(resolve_encoder(self.model), device=self.device)
        return self._encoder

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """(len(texts), dim) float32; a null or blank text gets a zero vector, similar to nothing."""
        texts = list(texts)
        present = [i for i, t in enumerate(texts) if t is not None and t.strip()]
        if not present:
            return np.zeros((len(texts), 0), dtype=np.float32)
        encoder = self._load()
        # sorting by length keeps similar lengths in a batch, so padding wastes little compute
        order = sorted(present, key=lambda i: len(texts[i]))
        vectors = encoder.encode([texts[i] for i in order], batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[order] = vectors
        return out


def embedder_for(spec: PipelineSpec) -> TextEmbedder | None:
    """The embedder the spec's filters need (`filters.embedding_model`), or None when no filter compares embeddings."""
    return TextEmbedder(spec.filters.embedding_model) if spec.filters.uses_embeddings else None
