"""The RAG serving index: ``gold.chunk_embeddings`` in LanceDB, kept in sync from Iceberg snapshot diffs.

LanceDB is an embedded store made for this: vectors, a full-text (BM25) index and SQL filters over one table
of local files, versioned like Iceberg, with no server. The index holds one row per chunk (its text, vector,
source, day) plus ``file``: the Iceberg data file the row was read from, with the delete files applying to it.

**Sync is a snapshot diff, never a rebuild.** The index records the Iceberg snapshot it mirrors and the file
keys it holds. A sync plans the files of the published snapshot of ``gold.chunk_embeddings`` (the one
``ops.publications`` pins: never a run's half-published state), and touches only the difference: rows of
files that left the table are deleted, files that arrived are read and added. A rebuilt day replaces its
files, so its old chunks go and its new ones come; a day nobody touched costs nothing. A data file that got a
delete file (a merge-on-read delete) changes key, so it is read again with its deletes applied.

**Crash-safe.** Before adding rows the state records the files being added (``pending``), and it records them as
held (atomically) only after LanceDB has their rows; a sync that finds ``pending`` files it does not hold
deletes their rows first, so a sync killed half-way is finished by the next one without duplicates.
Syncs of one index are serialized by a file lock.

``rebuild`` loads the table at any snapshot (``snapshot_id``) into a fresh index through the same code.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.table import FileScanTask

from llm_lakehouse.core.catalog import load, published_snapshot
from llm_lakehouse.core.errors import ServingIndexError
from llm_lakehouse.core.tables import GOLD_CHUNKS

log = logging.getLogger(__name__)

TABLE = "chunks"
STATE = "state.json"
# Columns read from gold.chunk_embeddings; ``embedding`` becomes the fixed-size ``vector``.
READ = ("chunk_id", "doc_id", "source", "chunk_index", "text", "model", "dim", "embedding", "dt")
# Deleting by file key in IN lists of this many keys keeps each predicate small.
DELETE_BATCH = 200
# Rows read from Iceberg are added to LanceDB in appends of about this many (one fragment each).
ADD_ROWS = 50_000
# From this many chunks on, vector search goes through an ANN index instead of a flat scan, whose cost shows
# in query latency from tens of thousands of chunks (bench/serving_index.py, BENCHMARKS.md).
VECTOR_INDEX_ROWS = 50_000
# Unindexed rows are merged into the indices once they exceed this share of the table.
UNINDEXED_SHARE = 0.1


@dataclass(frozen=True)
class SyncResult:
    snapshot_id: int | None
    files_added: int
    files_removed: int
    rows_added: int
    rows: int

    @property
    def changed(self) -> bool:
        return bool(self.files_added or self.files_removed)


def file_key(task: FileScanTask) -> str:
    """A data file and the delete files applying to it: a new delete file makes it a new key."""
    deletes = sorted(d.file_path for d in task.delete_files)
    return task.file.file_path + "".join(f"|{d}" for d in deletes)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class ServingIndex:
    """One LanceDB index under ``path``: the ``chunks`` table and ``state.json`` (snapshot, model, file keys)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # --- state ------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / STATE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"snapshot_id": None, "model": None, "dim": None, "files": {}}

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.path / f".{STATE}.tmp"
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.path / STATE)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _db(self) -> Any:
        import lancedb

        return lancedb.connect(str(self.path / "lance"))

    def _open(self, db: Any) -> Any | None:
        return db.open_table(TABLE) if TABLE in db.list_tables().tables else None

    def table(self) -> Any:
        """The LanceDB table; a ServingIndexError when nothing was synced yet."""
        lance = self._open(self._db())
        if lance is None:
            raise ServingIndexError(
                f"{self.path}: the serving index holds no chunks: {GOLD_CHUNKS.ident} has none yet (build a "
                "day through gold), or it was never synced (`lakehouse index sync`)"
            )
        return lance

    # --- sync ---------------------------------------------------------------------------------------------

    def sync(
        self, catalog: Any, snapshot_id: int | None = None, progress: Callable[[str], None] | None = None
    ) -> SyncResult:
        """Brings the index to ``snapshot_id`` (default: the published snapshot) by the files that changed."""
        with self._locked():
            try:
                table = load(catalog, GOLD_CHUNKS.ident)
            except NoSuchTableError:
                raise ServingIndexError(
                    f"{GOLD_CHUNKS.ident} does not exist yet: build a day first"
                ) from None
            sid = snapshot_id if snapshot_id is not None else published_snapshot(catalog, GOLD_CHUNKS.ident)
            if not (self.path / STATE).exists():
                # Rows without a record of their files (state.json deleted, or a first sync killed before
                # writing it): they could never be told apart, so they go.
                shutil.rmtree(self.path / "lance", ignore_errors=True)
            state = self.state()
            if sid is None or (sid == state["snapshot_id"] and not state.get("pending")):
                return SyncResult(sid, 0, 0, 0, sum(state["files"].values()))
            tasks = {file_key(t): t for t in table.scan(snapshot_id=sid).plan_files()}
            held: dict[str, int] = state["files"]
            removed = [k for k in held if k not in tasks]
            added = [k for k in tasks if k not in held]
            db = self._db()
            lance = self._open(db)
            # Files a killed sync was adding: their rows may be in LanceDB without being recorded.
            gone = removed + [k for k in state.get("pending", []) if k not in held]
            if lance is not None:
                for i in range(0, len(gone), DELETE_BATCH):
                    lance.delete(f"file IN ({', '.join(_sql_str(k) for k in gone[i : i + DELETE_BATCH])})")
            for k in removed:
                held.pop(k)
            state["pending"] = added
            self._write_state(state)
            scan = ArrowScan(table.metadata, table.io, table.schema().select(*READ), AlwaysTrue())
            rows_added = 0
            buffer: list[pa.Table] = []
            for n, key in enumerate(added, 1):
                rows = self._rows(scan.to_table([tasks[key]]), key, state)
                buffer.append(rows)
                held[key] = rows.num_rows
                rows_added += rows.num_rows
                if n == len(added) or sum(b.num_rows for b in buffer) >= ADD_ROWS:
                    lance = self._add(db, lance, buffer)
                    buffer = []
                if progress and (n % 20 == 0 or n == len(added)):
                    progress(
                        f"read {n}/{len(added)} new file(s) of {GOLD_CHUNKS.ident}, {rows_added:,} chunk(s)"
                    )
            if lance is not None:
                self._maintain(lance)
            state["snapshot_id"], state["pending"] = sid, []
            self._commit(state)
            total = sum(held.values())
            log.info(
                "serving index at snapshot %s: +%d/-%d file(s), %d chunk(s) added, %d in all",
                sid,
                len(added),
                len(removed),
                rows_added,
                total,
            )
            return SyncResult(sid, len(added), len(removed), rows_added, total)

    def _commit(self, state: dict[str, Any]) -> None:
        """The sync's last step: the state that says what LanceDB now holds."""
        self._write_state(state)

    @staticmethod
    def _add(db: Any, lance: Any | None, buffer: list[pa.Table]) -> Any | None:
        rows = pa.concat_tables([b for b in buffer if b.num_rows])
        if rows.num_rows == 0:
            return lance
        if lance is None:
            return db.create_table(TABLE, rows)
        lance.add(rows)
        return lance

    def rebuild(
        self, catalog: Any, snapshot_id: int | None = None, progress: Callable[[str], None] | None = None
    ) -> SyncResult:
        """A fresh index of ``gold.chunk_embeddings`` at ``snapshot_id`` (default: the published snapshot)."""
        with self._locked():
            shutil.rmtree(self.path / "lance", ignore_errors=True)
            (self.path / STATE).unlink(missing_ok=True)
        return self.sync(catalog, snapshot_id, progress)

    def _rows(self, got: pa.Table, key: str, state: dict[str, Any]) -> pa.Table:
        if got.num_rows == 0:
            return got
        models = set(got.column("model").unique().to_pylist())
        dims = set(got.column("dim").unique().to_pylist())
        want = {state["model"]} if state["model"] else models
        if len(models) != 1 or models != want or len(dims) != 1:
            raise ServingIndexError(
                f"{key}: chunks embedded with {sorted(models)} (dim {sorted(dims)}), but the index holds "
                f"{state['model'] or 'one model'}: one index serves one model; rebuild the days with the spec's "
                "model, then `lakehouse index rebuild`"
            )
        state["model"], state["dim"] = models.pop(), dims.pop()
        flat = pc.list_flatten(got.column("embedding")).cast(pa.float32())
        vector = pa.FixedSizeListArray.from_arrays(flat.combine_chunks(), state["dim"])
        return pa.table(
            {
                "chunk_id": got.column("chunk_id"),
                "doc_id": got.column("doc_id"),
                "source": got.column("source"),
                "chunk_index": got.column("chunk_index"),
                "dt": got.column("dt"),
                "text": got.column("text"),
                "vector": vector,
                "file": pa.array([key] * got.num_rows, pa.string()),
            }
        )

    def forget_history(self) -> None:
        """Drops every older version of the index and rewrites fragments with deleted rows: after an erasure's
        sync, no version of the index holds the forgotten chunks (Lance deletes only mark rows)."""
        with self._locked():
            lance = self._open(self._db())
            if lance is not None:
                lance.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)

    @staticmethod
    def _maintain(lance: Any) -> None:
        """Indices: BM25 over the text from the first sync; a vector index (IVF + HNSW, 8-bit scalar
        quantized) once the table is large enough for a flat scan to show in query latency. Rows added since
        an index was built are searched too (scanned, then merged); ``optimize`` folds them in, and compacts
        the small fragments each sync adds, once they are more than a tenth of the table: a sync of a small
        day stays a few appends, not a rewrite."""
        from lancedb.index import FTS, IvfHnswSq

        indices = {tuple(i.columns): i for i in lance.list_indices()}
        rows = lance.count_rows()
        if ("text",) not in indices:
            lance.create_index("text", config=FTS())
        if ("vector",) not in indices and rows >= VECTOR_INDEX_ROWS:
            lance.create_index("vector", config=IvfHnswSq(distance_type="dot"))
        behind = max((i.num_unindexed_rows for i in indices.values()), default=0)
        if behind > rows * UNINDEXED_SHARE:
            lance.optimize()
