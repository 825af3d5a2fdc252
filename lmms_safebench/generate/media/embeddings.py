"""Text embeddings and near-duplicate detection for the generators (sentence-transformers, optional extra).

Used to merge near-duplicate risk scenarios proposed by different models, to drop near-duplicate queries,
and to measure diversity (with CLIP image embeddings for samples that carry an image). ``model`` is a hub id (downloaded through the normal ``from_pretrained`` path) or
a local folder (tests build a tiny one offline). Without a model, :func:`near_duplicates` falls back to a
lexical similarity (difflib's ratio over normalised text), documented as the weaker choice.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from ... import paths
from ...llm.models import Shared, resolve_device

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_lock = threading.Lock()


def normalise(text: str) -> str:
    """Lower case, punctuation and extra spaces removed (exact duplicates are equal after this)."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def unavailable(model: str) -> str | None:
    """Why ``model`` (a local folder or a hub id) cannot be loaded, found cheaply before any work; None when it is
    a folder, is in the local Hugging Face cache, or the hub answers (the loader then says what it finds). Offline,
    or with the hub out of reach, an uncached model would otherwise fail only after minutes of retries."""
    import huggingface_hub  # start-up cost: only when a model is named
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    if Path(model).expanduser().is_dir():
        return None
    try:
        if isinstance(huggingface_hub.try_to_load_from_cache(model, "config.json"), str):
            return None
    except ValueError:  # not a valid hub id
        return "no such folder, and not a hub model id"
    if paths.offline() or constants.HF_HUB_OFFLINE:
        return "not in the local Hugging Face cache, and the hub is off (offline mode)"
    try:
        huggingface_hub.model_info(model, timeout=10)
    except HfHubHTTPError:
        return None  # the hub answered: the loader names a missing or gated model itself
    except Exception as exc:  # connection refused, DNS, timeout: the hub is out of reach
        return f"not in the local Hugging Face cache, and the hub cannot be reached ({type(exc).__name__}: {exc})"
    return None


@lru_cache(maxsize=4)
def _model(model: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model, device=None if device == "auto" else device)


def embed(texts: list[str], model: str = DEFAULT_MODEL, device: str = "auto") -> np.ndarray:
    """Unit-length embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 1), dtype="float32")
    with _lock:  # one encode at a time per process; the model is shared
        vectors = _model(model, device).encode(list(texts), convert_to_numpy=True, normalize_embeddings=True,
                                                show_progress_bar=False)
    return np.asarray(vectors, dtype="float32")


def similarity(texts: list[str], model: str | None = None, device: str = "auto") -> np.ndarray:
    """Pairwise similarity in [0, 1]-ish: cosine of embeddings, or difflib's ratio when ``model`` is None."""
    if model:
        vectors = embed(texts, model, device)
        return vectors @ vectors.T
    normal = [normalise(t) for t in texts]
    n = len(normal)
    out = np.eye(n, dtype="float32")
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = difflib.SequenceMatcher(None, normal[i], normal[j]).ratio()
    return out


def near_duplicates(texts: list[str], threshold: float, model: str | None = None, device: str = "auto") -> list[int]:
    """Indices to drop so that no two kept texts are exact or near duplicates (the first one of each is kept)."""
    normal = [normalise(t) for t in texts]
    drop: set[int] = set()
    seen: dict[str, int] = {}
    for i, text in enumerate(normal):
        if text in seen:
            drop.add(i)
        else:
            seen[text] = i
    keep = [i for i in range(len(texts)) if i not in drop]
    if len(keep) > 1 and not model:
        drop |= _lexical_near_duplicates(normal, keep, threshold)
    elif len(keep) > 1:
        sims = similarity([texts[i] for i in keep], model, device)
        kept: list[int] = []  # positions in `keep`
        for position, index in enumerate(keep):
            if kept and float(np.max(sims[position, kept])) >= threshold:
                drop.add(index)
            else:
                kept.append(position)
    return sorted(drop)


def _lexical_near_duplicates(normal: list[str], keep: list[int], threshold: float) -> set[int]:
    """The same rule as over :func:`similarity`'s matrix (each text against the earlier kept ones), with
    difflib's cheap upper bounds of ``ratio`` tried first (``real_quick_ratio``: the lengths; ``quick_ratio``:
    the shared characters, from counts made once per text): identical results, and on sentences, where the
    bounds rule out almost every pair, one to two orders of magnitude faster."""
    counts = {i: Counter(normal[i]) for i in keep}
    drop: set[int] = set()
    kept: list[int] = []
    for index in keep:
        matcher = difflib.SequenceMatcher(None, b=normal[index])  # b's index is built once
        size = len(normal[index])
        for earlier in kept:
            total = size + len(normal[earlier])
            if 2 * min(size, len(normal[earlier])) < threshold * total:
                continue
            if 2 * sum((counts[index] & counts[earlier]).values()) < threshold * total:
                continue
            matcher.set_seq1(normal[earlier])
            if matcher.ratio() >= threshold:
                drop.add(index)
                break
        else:
            kept.append(index)
    return drop


# ------------------------------------------------------------------------------------------ images

DEFAULT_IMAGE_MODEL = "openai/clip-vit-base-patch32"


class _ImageEncoder:
    """CLIP's image tower (transformers), loaded on first use; one per (model, device) per process."""

    def __init__(self, model: str, device: str):
        self.model_id, self.device = model, device
        self._model = self._processor = None
        self._lock = threading.Lock()

    def encode(self, images, batch_size: int = 32) -> np.ndarray:
        import torch
        from transformers import CLIPModel, CLIPProcessor

        with self._lock:
            if self._model is None:
                self._processor = CLIPProcessor.from_pretrained(self.model_id)
                self._model = CLIPModel.from_pretrained(self.model_id).to(self.device).eval()
            rows = []
            for start in range(0, len(images), batch_size):
                batch = [image.convert("RGB") for image in images[start:start + batch_size]]
                inputs = self._processor(images=batch, return_tensors="pt").to(self.device)
                with torch.no_grad():
                    out = self._model.get_image_features(pixel_values=inputs["pixel_values"])
                vectors = out if torch.is_tensor(out) else out.pooler_output  # a tensor before transformers 5
                rows.append(torch.nn.functional.normalize(vectors.float(), dim=-1).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 1), dtype="float32")


_encoders: Shared[_ImageEncoder] = Shared(_ImageEncoder)


def embed_images(images: list, model: str = DEFAULT_IMAGE_MODEL, device: str = "auto") -> np.ndarray:
    """Unit-length CLIP image embeddings, one row per PIL image."""
    return _encoders.get(model, resolve_device(device)).encode(list(images))


def joint(text: np.ndarray | None, image: np.ndarray | None) -> np.ndarray | None:
    """One unit vector per row from text and image embeddings: cosine similarity of two joint vectors is the mean
    of the text and the image similarities (either may be missing)."""
    parts = [p for p in (text, image) if p is not None and len(p)]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts, axis=1) / np.sqrt(len(parts))
