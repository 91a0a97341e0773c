"""Knowledge work as background jobs: an upload of many files, a re-index (handlers and their submit helpers).

An upload's bytes go into the job's folder (`uploads/0000`, ...; names in the spec) before the handler
reads them: the `.complete` marker is written last, and the handler waits for it, so a job never
ingests half an upload. Jobs are found again by collection name (`spec["key"]`).
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path

from workbench import jobs
from workbench.jobs.results import latest, reporter, write_result
from workbench.knowledge.catalog import FileError, IngestReport, KnowledgeError
from workbench.knowledge.collections import Collection, KnowledgeBase
from workbench.settings import Settings

INGEST_KIND, REINDEX_KIND = "ingest", "reindex"
HANDLERS = "workbench.knowledge.jobs"
IN_PAGE_MAX_FILES = 3  # uploads up to this many files ...
IN_PAGE_MAX_BYTES = 5_000_000  # ... and this many bytes are ingested in the page, with its progress bar
UPLOADS, COMPLETE = "uploads", ".complete"
UPLOAD_WAIT_S = 120.0  # how long a started ingest job waits for the app to finish writing its files


def runs_as_job(sizes: list[int]) -> bool:
    """True for an upload (its files' sizes) too large to ingest inside the page: many files, or many bytes."""
    return len(sizes) > IN_PAGE_MAX_FILES or sum(sizes) > IN_PAGE_MAX_BYTES


def report_to_json(rep: IngestReport) -> dict:
    return asdict(rep)


def report_from_json(d: dict) -> IngestReport:
    tup = ("added", "replaced", "unchanged", "skipped", "notes")
    return IngestReport(**{**{k: tuple(d.get(k, ())) for k in tup},
                           "failed": tuple(FileError(f["name"], f["reason"]) for f in d.get("failed", ())),
                           "n_chunks": int(d.get("n_chunks", 0)), "n_embedded": int(d.get("n_embedded", 0)),
                           "seconds": float(d.get("seconds", 0.0)), "cancelled": bool(d.get("cancelled", False))})


def collection_by_key(settings: Settings, key: str) -> Collection:
    """The collection whose index is `key` now (a rename keeps it); KnowledgeError once re-indexed or deleted."""
    kb = KnowledgeBase(settings)
    for name in kb.names():
        if kb.get(name).key == key:
            return kb.get(name)
    raise KnowledgeError("The collection this job was started for was re-indexed or deleted since; "
                         "start it again on the collection as it is now.")


# --- ingest -----------------------------------------------------------------------------------------
def submit_ingest(settings: Settings, collection: str, files: list[tuple[str, bytes]],
                  encoding: str | None = None) -> jobs.JobStatus:
    """Queue an ingest of `files` into `collection`; the bytes are in the job's folder when this returns."""
    names = [n for n, _ in files]
    st = jobs.submit(settings, INGEST_KIND,
                     {"key": collection, "collection": collection, "files": names, "encoding": encoding,
                      "n_bytes": sum(len(d) for _, d in files)},
                     handler=f"{HANDLERS}:run_ingest", name=f"ingest {len(files)} file(s) into {collection}")
    up = jobs.job_dir(settings, st.job_id) / UPLOADS
    try:
        up.mkdir(exist_ok=True)
        for i, (_, data) in enumerate(files):
            (up / f"{i:04d}").write_bytes(data)
        (up / COMPLETE).touch()
    except OSError as e:
        jobs.cancel(settings, st.job_id)  # the handler must not wait for files that will never come
        raise KnowledgeError(f"Could not store the upload for its job ({e.strerror or e}); nothing was ingested.") from e
    return st


def _wait_for_upload(ctx: jobs.JobContext) -> Path:
    up = ctx.dir / UPLOADS
    deadline = time.monotonic() + UPLOAD_WAIT_S
    while not (up / COMPLETE).exists():
        ctx.check_cancel()
        if time.monotonic() > deadline:
            raise KnowledgeError(f"The uploaded files never arrived in the job's folder (waited {UPLOAD_WAIT_S:.0f} s); "
                                 "upload them again.")
        time.sleep(0.1)
    return up


def run_ingest(ctx: jobs.JobContext) -> dict:
    """Handler: ingest the files stored in the job's folder (removed afterwards; the documents keep their text)."""
    up = _wait_for_upload(ctx)
    names = list(ctx.spec["files"])
    files = [(name, (up / f"{i:04d}").read_bytes()) for i, name in enumerate(names)]
    col = KnowledgeBase(ctx.settings).get(ctx.spec["collection"])
    ctx.log(f"ingesting {len(files)} file(s) into {col.name}")
    try:
        rep = col.ingest(files, progress=reporter(ctx), cancel=ctx.cancelled, encoding=ctx.spec.get("encoding"))
    finally:
        shutil.rmtree(up, ignore_errors=True)
    write_result(ctx.dir, report_to_json(rep))
    return {"collection": col.name, "added": len(rep.added), "replaced": len(rep.replaced),
            "failed": len(rep.failed), "cancelled": rep.cancelled}


# --- re-index ---------------------------------------------------------------------------------------
def submit_reindex(settings: Settings, collection: str) -> jobs.JobStatus:
    """Queue a re-index of `collection` with its current settings."""
    return jobs.submit(settings, REINDEX_KIND, {"key": collection, "collection": collection},
                       handler=f"{HANDLERS}:run_reindex", name=f"re-index {collection}")


def run_reindex(ctx: jobs.JobContext) -> dict:
    """Handler: re-chunk and re-embed every document of the collection, then swap the new index in."""
    col = KnowledgeBase(ctx.settings).get(ctx.spec["collection"])
    rep = col.reindex(progress=reporter(ctx), cancel=ctx.cancelled)
    write_result(ctx.dir, report_to_json(rep))
    return {"documents": len(rep.replaced), "chunks": rep.n_chunks, "cancelled": rep.cancelled}


def latest_ingest(settings: Settings, collection: str) -> jobs.JobStatus | None:
    return latest(settings, INGEST_KIND, collection)


def latest_reindex(settings: Settings, collection: str) -> jobs.JobStatus | None:
    return latest(settings, REINDEX_KIND, collection)
