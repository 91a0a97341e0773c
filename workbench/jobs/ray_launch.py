"""Workers as Ray jobs: `RayLauncher` submits `python -m workbench.jobs.worker JOB_DIR` through Ray's Jobs API.

The job directory stays the record of truth: it lies on storage that every Ray node mounts at the same
path, and the worker writes status, metrics, log.txt and results there exactly as a local worker does
(its output is appended to log.txt by the entrypoint itself, so Ray's own log holds only Ray's lines).
Ray is asked only what the job directory cannot say: whether the worker still runs, how it ended, and to
stop it. The runtime environment carries the workbench as a `working_dir` (the repository without
.git, .venv and storage, about 1 MB zipped; cached by Ray per content hash): the worker then runs the
app's exact code whatever is checked out on the nodes, and a handler in any top-level package of the
repository (`tests.fakes:count`) resolves as it does locally. Third-party packages come from the
Python that runs the worker: the app's own interpreter path, so every node needs the venv at that path.

A head that does not answer is "unknown", not dead: `alive` stays true for `UNREACHABLE_GRACE_S` after
the first failed request (per head, per process), then the job counts as dead with the reason
"Ray head unreachable".
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
import shlex
import sys
import time
from pathlib import Path

from workbench.jobs.launch import START_TIMEOUT_S, child_env, last_log_line
from workbench.jobs.store import LOG, JobError, JobStatus
from workbench.settings import REPO_ROOT, Settings

# How long a head may not answer before its running jobs count as dead.
UNREACHABLE_GRACE_S = 30.0
# The Jobs SDK's requests have no timeout: a head behind a dropped route would hang the runner forever.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 5.0, 60.0
# A quiet head is asked again at most this often, so a page listing many of its jobs waits for one timeout.
RETRY_EVERY_S = 2.0
# Exit codes for poll() when Ray stopped the job or the head stopped answering (no worker code exists).
STOPPED_CODE = -15
UNREACHABLE_CODE = 1
# Forwarded to the worker: what the workbench itself reads, and the thread settings the app runs with.
# Not the endpoint API key: a runtime environment is stored by the head and shown in its dashboard.
FORWARD_PREFIXES = ("WORKBENCH_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "OMP_", "GOMP_", "MKL_")
NOT_FORWARDED = ("WORKBENCH_RAY_ADDRESS", "WORKBENCH_ENDPOINT_API_KEY")
# Ray already leaves out .git, .venv and what .gitignore names; these hold in any checkout.
EXCLUDES = ["/storage", "**/__pycache__", "bench/out", "tests/screenshots"]

# Errors of the Jobs SDK that are Ray's answer about one job, not a head that cannot be used.
ANSWERS = ("does not exist", "already exists")
# Per head address, shared by every launcher in this process (pages build one per status they check):
# the first and the latest failed request, reset by any answer; and the client (its creation costs two
# requests).
_unreachable_since: dict[str, float] = {}
_last_failure: dict[str, float] = {}
_clients: dict[str, object] = {}


class RayUnreachable(ConnectionError):
    """The Ray head did not answer."""


def _error_text(e: BaseException) -> str:
    """One short line for the user: requests' connection errors nest the useful part deep inside."""
    import requests

    if isinstance(e, requests.Timeout):
        return f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
    text = str(e)
    if m := re.search(r"\[Errno -?\d+\] ([^'\")]+)", text):
        return m.group(1).strip()
    return (text.splitlines() or [type(e).__name__])[0][:200]


def job_client(address: str):
    """A Jobs API client for `address` whose every request times out; RayUnreachable when nobody answers."""
    import requests
    from ray.job_submission import JobSubmissionClient

    class TimedClient(JobSubmissionClient):
        def _do_request(self, method, endpoint, **kwargs):
            kwargs.setdefault("timeout", (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
            try:
                return super()._do_request(method, endpoint, **kwargs)
            except requests.RequestException as e:
                raise RayUnreachable(_error_text(e)) from e

    # The SDK logs every packaging step at INFO; the job's own log says what matters.
    logging.getLogger("ray").setLevel(logging.WARNING)
    try:
        return TimedClient(address)
    except RayUnreachable:
        raise
    except ConnectionError as e:  # the SDK's own "Failed to connect"
        raise RayUnreachable(_error_text(e)) from e


def submission_id(st: JobStatus) -> str:
    """The Ray submission id of a job, from its status alone, so any process can find the Ray job even
    before its id is recorded; the hash of the submission time keeps two storages' equal ids apart."""
    digest = hashlib.sha1(f"{st.job_id}:{st.submitted_ns}".encode()).hexdigest()[:8]
    return f"workbench-{st.job_id}-{digest}"


def worker_env(settings: Settings, st: JobStatus) -> dict[str, str]:
    """The env_vars of the job's runtime environment."""
    env = {k: v for k, v in child_env(settings).items()
           if k.startswith(FORWARD_PREFIXES) and k not in NOT_FORWARDED}
    # Ray's own grace between the SIGTERM of stop_job and its SIGKILL: the job's cancel grace.
    env["RAY_JOB_STOP_WAIT_TIME_S"] = str(max(1, math.ceil(st.cancel_grace_s)))
    return env


class RayLauncher:
    """Workers as Ray jobs on the cluster at `address` (the dashboard's http://host:port)."""

    name = "ray"

    def __init__(self, address: str | None = None):
        address = address or Settings.from_env().ray_address
        if not address:
            raise ValueError("RayLauncher needs a Ray address (WORKBENCH_RAY_ADDRESS)")
        self.address = address if "://" in address else f"http://{address}"

    # -- asking Ray ------------------------------------------------------------------------------------
    def _call(self, method: str, *args, **kwargs):
        """One Jobs API call; RayUnreachable (after noting when the head went quiet) when it does not answer."""
        if time.time() - _last_failure.get(self.address, 0.0) < RETRY_EVERY_S:
            raise RayUnreachable("no answer to the last request, a moment ago")
        try:
            if self.address not in _clients:
                _clients[self.address] = job_client(self.address)
            out = getattr(_clients[self.address], method)(*args, **kwargs)
        except (RayUnreachable, RuntimeError) as e:
            # Ray's answers about one job pass through; anything else (a 5xx while the head restarts, a
            # server that is not a Ray dashboard) means no usable head.
            if isinstance(e, RuntimeError) and any(w in str(e) for w in ANSWERS):
                raise
            _clients.pop(self.address, None)
            _unreachable_since.setdefault(self.address, time.time())
            _last_failure[self.address] = time.time()
            if isinstance(e, RayUnreachable):
                raise
            raise RayUnreachable(_error_text(e)) from e
        _unreachable_since.pop(self.address, None)
        _last_failure.pop(self.address, None)
        return out

    def unreachable_for(self) -> float:
        """Seconds since the head stopped answering this process (0 while it answers)."""
        since = _unreachable_since.get(self.address)
        return time.time() - since if since else 0.0

    def _info(self, st: JobStatus):
        """Ray's JobInfo for the job, None when Ray does not know it; RayUnreachable passes through."""
        try:
            return self._call("get_job_info", st.external_id or submission_id(st))
        except RuntimeError as e:
            if "does not exist" in str(e):
                return None
            raise

    # -- the Launcher contract -------------------------------------------------------------------------
    def check(self, settings: Settings) -> None:
        """Refuse new jobs, with the reason, while the head does not answer."""
        try:
            self._call("get_version")
        except RayUnreachable as e:
            raise JobError(
                f"The Ray cluster at {self.address} (WORKBENCH_RAY_ADDRESS) cannot be reached: {e}. "
                "Nothing was queued. Start the Ray head, or unset WORKBENCH_RAY_ADDRESS to run jobs on "
                "this machine.") from e

    def start(self, settings: Settings, job_dir: Path, st: JobStatus) -> dict:
        """Submit the worker as a Ray job; the returned fields identify it from any process."""
        from ray.job_submission import JobStatus as RayState

        sid = submission_id(st)
        log = job_dir / LOG
        # `exec`: the worker replaces the shell, so Ray's SIGTERM on stop reaches it directly.
        entrypoint = (f"exec {shlex.quote(sys.executable)} -m workbench.jobs.worker {shlex.quote(str(job_dir))}"
                      f" >> {shlex.quote(str(log))} 2>&1")
        runtime_env = {"working_dir": str(REPO_ROOT), "excludes": EXCLUDES, "env_vars": worker_env(settings, st)}
        # Before the submission: a worker whose log cannot be opened fails in Ray, which then says why.
        with contextlib.suppress(OSError), open(log, "a") as f:
            f.write(f"[jobs] submitting to Ray at {self.address} as {sid}\n")
        try:
            self._call("submit_job", entrypoint=entrypoint, submission_id=sid, runtime_env=runtime_env,
                       metadata={"workbench_job": st.job_id, "kind": st.kind},
                       # A job needs a CPU slot so Ray may place it on any node (without one it runs on the
                       # head); WORKBENCH_DEVICE=cuda asks for a GPU node.
                       entrypoint_num_cpus=1, entrypoint_num_gpus=1 if settings.device == "cuda" else None)
        except RuntimeError as e:
            # Submitted once already (its starter died before recording it): the same job, adopt it.
            if "already exists" not in str(e):
                raise
            info = self._info(st)
            if info is None or info.status not in (RayState.PENDING, RayState.RUNNING):
                raise
        return {"launcher": self.name, "external_id": sid, "pid": None, "pid_started": None}

    def poll(self, st: JobStatus) -> int | None:
        """None while Ray runs (or still places) the job or the head is briefly quiet; else an exit code."""
        from ray.job_submission import JobStatus as RayState

        try:
            info = self._info(st)  # by the computed id while none is recorded: a runner may have died
        except RayUnreachable:  # between submitting and recording it
            return UNREACHABLE_CODE if self.unreachable_for() > UNREACHABLE_GRACE_S else None
        if info is None:
            if not st.external_id:  # claimed, not submitted yet: its runner has a while to do it
                return None if time.time() - (st.started_at or st.updated_at or 0) < START_TIMEOUT_S else 1
            return 1  # the head was replaced and forgot the job: it is not running anywhere
        if info.status in (RayState.PENDING, RayState.RUNNING):
            return None
        if info.status == RayState.SUCCEEDED:
            return 0
        if info.status == RayState.STOPPED:
            return STOPPED_CODE
        return info.driver_exit_code if info.driver_exit_code is not None else 1

    def alive(self, st: JobStatus) -> bool:
        """True while Ray runs or places the job, and for a grace period while the head does not answer."""
        return self.poll(st) is None

    def stop(self, st: JobStatus, force: bool) -> None:
        """stop_job: Ray sends SIGTERM, then SIGKILL to the worker and its children after the cancel grace.

        force asks again: Ray has no harder stop for a job than its own escalation, which is under way.
        """
        with contextlib.suppress(RayUnreachable, RuntimeError):  # quiet head, or a job Ray forgot: nothing to stop
            self._call("stop_job", st.external_id or submission_id(st))

    def death_reason(self, st: JobStatus, job_dir: Path) -> str:
        """Why the Ray job ended without an outcome: Ray's account, and the last line of the job's log."""
        last = last_log_line(job_dir)
        tail = f"; last log line: {last}" if last else ""
        sid = st.external_id or submission_id(st)
        try:
            info = self._info(st)
        except RayUnreachable as e:
            return (f"Ray head unreachable at {self.address} for {self.unreachable_for():.0f} s ({e}): "
                    f"Ray job {sid} is lost with it{tail}")
        if info is None and not st.external_id:
            return f"The job was never submitted to Ray (not within {START_TIMEOUT_S:.0f} s){tail}"
        if info is None:
            return f"Ray no longer knows job {sid} (was the head restarted?){tail}"
        state = info.status.value
        code = info.driver_exit_code
        how = ("was stopped through Ray" if state == "STOPPED" else
               f"was killed by signal {-code}" if code is not None and code < 0 else
               f"exited with code {code}" if code is not None else f"ended {state}")
        reason = f"The Ray job {sid} {how} without recording an outcome"
        if last and not last.startswith("[jobs] submitting"):
            return reason + tail
        # The worker never wrote a line (e.g. the runtime environment failed on the node): Ray's message says why.
        ray_said = next((ln for ln in (info.message or "").splitlines() if ln.strip()), "")
        return reason + (f"; Ray: {ray_said[:300]}" if ray_said else tail)
