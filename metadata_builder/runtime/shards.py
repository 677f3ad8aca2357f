"""The one way a sharded command runs, skips and resumes its shards (match, balance, wiki-count, pageviews).

A job owns an output folder ``OUT`` and keeps its bookkeeping in ``OUT/_job/``, apart from the data
files, so that any reader can take the data folders as they are:

- ``_job/settings.json``: what the outputs depend on (the inputs' identity, the options), written
  when the job starts. A rerun into the same folder with other settings is refused with one line
  naming what changed, so results of two different runs never mix.
- ``_job/markers/SHARD.json``: written by the worker right after the shard's own outputs, holding
  the settings' key and the shard's stats. A shard counts as finished only when its marker exists
  and holds this job's key: a run killed at any point resumes by redoing exactly the others.
- ``_job/complete.json``: written last, after the command's final outputs (counts, tables, stats).
  It is removed when a job (re)starts, so outputs being rewritten never look finished; readers
  check it with :func:`require_complete` and say "incomplete: rerun ..." otherwise.

Temporary files a killed run left behind (``.NAME.*.tmp``, see :mod:`.storage`) are removed when
the job starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..errors import UserError
from . import storage
from .executor import Executor

JOB_DIR = "_job"


def settings_key(settings: dict) -> str:
    """A short digest of ``settings`` (canonical JSON): what markers and records are checked against."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _plain(value):
    """``value`` as it reads back from JSON (tuples become lists), so comparisons hold."""
    return json.loads(json.dumps(value, default=str))


def _changed(old: dict, new: dict) -> list[str]:
    """The top-level settings that differ, named for a user."""
    keys = sorted(set(old) | set(new), key=str)
    return [str(k) for k in keys if old.get(k) != new.get(k)]


@dataclass(frozen=True)
class _ShardTask:
    """What a worker needs to run one shard and mark it finished."""

    fn: Callable[[Any, Any], dict]
    shard: Any
    marker: str
    key: str
    identity: Any = None
    outputs: tuple = ()

    @property
    def name(self) -> str:  # how the executor names a failed task
        return shard_name(self.shard)


def shard_name(shard) -> str:
    """A shard's stable name: its ``name`` attribute or key."""
    return str(shard["name"] if isinstance(shard, dict) else shard.name)


def shard_path(shard) -> str:
    """The input file a shard reads, for messages (its ``path``), else its name."""
    return str(shard["path"] if isinstance(shard, dict) and "path" in shard else getattr(shard, "path", shard_name(shard)))


def shard_identity(shard):
    """What a shard's own input is, when it has one to check (its ``identity``, e.g. a file's
    fingerprint): a finished shard whose input changed is done again."""
    return getattr(shard, "identity", None)


def _sizes(outputs) -> dict:
    """``{path: size}`` of a shard's outputs; None for one it did not write (a shard may have
    nothing to write in a file, e.g. balance's curated rows when it kept no text)."""
    return {str(path): storage.size(path) if storage.is_file(path) else None for path in outputs}


def _run_shard(task: _ShardTask, shared) -> dict:
    """Worker side: the shard's outputs first, then its marker (last: the shard is finished). The
    marker records each output's size, so a finished shard whose file went missing is done again."""
    stats = task.fn(task.shard, shared)
    sizes = _sizes(task.outputs)
    storage.write_json(task.marker, {"settings": task.key, "identity": task.identity, "outputs": sizes,
                                     "stats": stats})
    return stats


class ShardJob:
    """A sharded job writing into ``out``, whose results depend on ``settings``.

    Parameters
    ----------
    out : the output folder, a local path or a URL (``s3://bucket/match``).
    what : the command's name, for messages (``"match"``).
    settings : JSON-serialisable dict of everything the outputs depend on; keys are shown to the
        user when they change, so name them plainly (``"metadata"``, ``"pool files"``, ``"t"``).
    outputs : ``outputs(shard) -> [path, ...]``, the files a shard writes: their sizes go into its
        marker, and a shard whose files are missing or of another size is done again.
    on_changed : what happens to a finished shard whose own input changed since (its ``identity``,
        e.g. a pool file's fingerprint): ``"redo"`` it, or ``"refuse"`` the run with one line.
    companions : names in ``out`` that belong to the same command although this job did not record
        them (a per-language match's ``languages/``, its own language-ID job run first).
    """

    def __init__(self, out, what: str, settings: dict, outputs: Callable[[Any], list] | None = None,
                 on_changed: str = "redo", companions: Sequence[str] = ()):
        self.out = storage.under(out)
        self.what = what
        self.settings = _plain(settings)  # as it reads back from disk
        self.key = settings_key(self.settings)
        self.outputs = outputs
        self.on_changed = on_changed
        self.companions = frozenset(companions)
        self.resumed = 0

    # --- paths ------------------------------------------------------------------------------------
    def _path(self, *parts: str):
        return storage.under(self.out, JOB_DIR, *parts)

    def marker(self, name: str):
        return self._path("markers", f"{name}.json")

    @property
    def complete_path(self):
        return self._path("complete.json")

    # --- the job ----------------------------------------------------------------------------------
    def up_to_date(self, record: dict | None = None, shards: Sequence = ()) -> bool:
        """Whether ``out`` already holds this job, finished, with ``record``'s items in its completion
        record and every one of ``shards`` finished on the same input: the command can return its
        outputs as they are instead of making them again."""
        if not storage.is_file(self.complete_path):
            return False
        try:
            done = storage.read_json(self.complete_path)
        except (OSError, ValueError):
            return False
        if done.get("key") != self.key or any(done.get(k) != _plain(v) for k, v in (record or {}).items()):
            return False
        return all(self.finished(s) is not None for s in shards)

    def start(self) -> "ShardJob":
        """Check the folder holds this job (or nothing), record the settings, mark it unfinished."""
        path = self._path("settings.json")
        if not storage.is_file(path):
            foreign = [n for n in storage.listdir(self.out)
                       if n != JOB_DIR and not n.startswith(".") and n not in self.companions]
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise UserError(f"{self.out}: holds files no {self.what} run recorded ({shown}); "
                                "choose a new --out or empty that folder")
        if storage.is_file(path):
            try:
                old = storage.read_json(path)
            except (OSError, ValueError):
                old = {}
            if old.get("settings") != self.settings:
                changed = ", ".join(_changed(old.get("settings") or {}, self.settings)) or "format"
                raise UserError(f"{self.out}: holds a {old.get('what', self.what)} run with other settings "
                                f"(changed: {changed}); choose a new --out or delete that folder")
        else:
            storage.write_json(path, {"what": self.what, "key": self.key, "settings": self.settings})
        storage.remove(self.complete_path)
        storage.remove_temporaries(self.out)
        return self

    def finished(self, shard) -> dict | None:
        """The stats of ``shard`` if an earlier run finished it with these settings, else None."""
        path = self.marker(shard_name(shard))
        if not storage.is_file(path):
            return None
        try:
            marker = storage.read_json(path)
        except (OSError, ValueError):  # a marker cut short by a full disk: the shard is redone
            return None
        if marker.get("settings") != self.key:
            return None
        same = marker.get("identity") == _plain(shard_identity(shard))
        if not same and self.on_changed == "refuse":
            raise UserError(f"{shard_path(shard)}: changed since an earlier run in {self.out} used it "
                            f"(shard {shard_name(shard)}); restore it, or choose a new --out")
        if same and self.outputs is not None:
            recorded = marker.get("outputs") or {}
            if any(path not in recorded or recorded[path] != size for path, size in _sizes(self.outputs(shard)).items()):
                return None  # an output went missing, appeared or changed: the shard is done again
        return marker.get("stats") if same else None

    def refresh_outputs(self, shard) -> None:
        """Record again the sizes of ``shard``'s outputs after the driver rewrote some of them (a
        pass over all shards' files, e.g. balance giving every curated file one schema), so that a
        rerun still finds the shard finished."""
        path = self.marker(shard_name(shard))
        marker = storage.read_json(path)
        marker["outputs"] = _sizes(self.outputs(shard)) if self.outputs is not None else {}
        storage.write_json(path, marker)

    def pending(self, shards: Sequence) -> list:
        """The shards an earlier run did not finish with these settings (so a caller can skip
        building a large shared object when there are none)."""
        return [s for s in shards if self.finished(s) is None]

    def run(self, fn: Callable[[Any, Any], dict], shards: Sequence, executor: Executor, *, shared=None,
            desc: str | None = None, unit: str = "shard") -> list[dict]:
        """Run ``fn(shard, shared) -> stats`` on every unfinished shard; return all stats in shard order.

        ``fn`` must be a module-level function (workers receive it by reference). Failed shards are
        reported together once the others finished (:class:`~.executor.TasksFailed`); finished
        ones keep their markers, so a rerun redoes only the failed.
        """
        done = {shard_name(s): self.finished(s) for s in shards}
        todo = [_ShardTask(fn, s, str(self.marker(shard_name(s))), self.key, _plain(shard_identity(s)),
                           tuple(str(p) for p in (self.outputs(s) if self.outputs else ())))
                for s in shards if done[shard_name(s)] is None]
        for task, stats in executor.map(_run_shard, todo, shared=shared, desc=desc, unit=unit):
            done[task.name] = stats
        self.resumed = len(shards) - len(todo)
        return [done[shard_name(s)] for s in shards]

    def finish(self, record: dict | None = None) -> None:
        """Declare the job's final outputs complete (call it after writing them)."""
        storage.write_json(self.complete_path, {"what": self.what, "key": self.key, **(record or {})})


def is_complete(out) -> bool:
    """Whether ``out`` holds a finished job (its completion record exists)."""
    return storage.is_file(storage.under(out, JOB_DIR, "complete.json"))


def require_complete(out, what: str, rerun: str) -> dict:
    """The completion record of ``out``; one line saying how to finish it when there is none."""
    path = storage.under(out, JOB_DIR, "complete.json")
    if not storage.is_file(path):
        raise UserError(f"{out}: incomplete {what} (no {JOB_DIR}/complete.json); {rerun}")
    try:
        return storage.read_json(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable ({exc}); {rerun}") from None


def check_input_finished(path) -> None:
    """Refuse a table read from a job folder (``wiki-count``'s ``unigrams.parquet``...) whose job did
    not finish: its tables may come from two different runs."""
    path = storage.canonical(path)
    folder = path.rsplit("/", 1)[0] if "/" in path else "."
    settings = storage.under(folder, JOB_DIR, "settings.json")
    if storage.is_file(settings) and not is_complete(folder):
        what = storage.read_json(settings).get("what", "run")
        raise UserError(f"{path}: its folder holds an incomplete {what} (no {JOB_DIR}/complete.json); "
                        f"rerun that {what} command to finish it")


def job_settings(out) -> dict | None:
    """The settings recorded in ``out`` (None when it holds no job)."""
    path = storage.under(out, JOB_DIR, "settings.json")
    if not storage.is_file(path):
        return None
    return storage.read_json(path)


__all__ = ["JOB_DIR", "ShardJob", "is_complete", "job_settings", "require_complete", "settings_key", "shard_name"]
