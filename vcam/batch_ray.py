"""``vcam batch``'s use of Ray: start a local instance or join a cluster, make the worker actors, and hand
them recordings one at a time. Ray is imported only inside these functions, so ``vcam run`` never pays for it.

A worker is :class:`vcam.batch_worker.Worker` as a Ray actor with one CPU; a process that dies is
restarted by Ray and its call retried (:data:`RETRIES`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from vcam.batch_worker import Job, Outcome, Worker
from vcam.errors import ConfigError, VcamError

log = logging.getLogger(__name__)

RETRIES = 2
"""How often Ray restarts a dead worker and retries its recording before it counts as failed."""


class RaySession:
    """Ray for one batch, as a context manager yielding the CPUs the workers may use."""

    def __init__(self, workers: int | None, address: str | None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be 1 or more, got {workers}")
        self.workers, self.address = workers, address or os.environ.get("RAY_ADDRESS") or None

    def __enter__(self) -> int:
        import ray

        if self.address:
            check_reachable(self.address)
        try:
            ray.init(**self._options())
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise VcamError(f"cannot start or reach {where}: {err}; start one with `ray start --head`, or leave "
                            "out --address (and RAY_ADDRESS) to run on this machine") from err
        cpus = self.workers or int(ray.cluster_resources().get("CPU", 1))
        log.info("batch: Ray %s with %d workers", f"cluster at {self.address}" if self.address else "on this machine",
                 cpus)
        return cpus

    def _options(self) -> dict:
        options = {"log_to_driver": False, "logging_level": logging.WARNING,
                   "runtime_env": {"env_vars": WORKER_ENV}}
        if self.address:
            return {**options, "address": self.address}
        return {**options, "num_cpus": self.workers or os.cpu_count() or 1, "include_dashboard": False}

    def __exit__(self, *exc: object) -> None:
        import ray

        ray.shutdown()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Raise VcamError at once when nothing listens at a ``HOST:PORT`` address (Ray itself retries for minutes).

    Other forms (``auto``, ``ray://...``) are left to Ray.
    """
    host, _, port = address.rpartition(":")
    if not (host and port.isascii() and port.isdigit()) or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise VcamError(f"cannot start or reach the Ray cluster at {address}: {err.strerror or err}; start one with "
                        "`ray start --head`, or leave out --address (and RAY_ADDRESS) to run on this machine") from err


WORKER_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
"""The workers' environment: MediaPipe/TFLite's C++ logging quiet, as in the CLI; one OpenMP thread per worker
(a worker has one CPU)."""


def make_actors(count: int, people: Mapping[str, np.ndarray] | None) -> list:
    """``count`` worker actors, each with one CPU, sharing one copy of ``people`` through the object store."""
    import ray

    remote = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(Worker)
    shared = ray.put(dict(people)) if people is not None else None
    return [remote.remote(shared) for _ in range(max(count, 1))]


def dispatch(actors: list, jobs: Sequence[Job]) -> Iterator[tuple[Job, Outcome]]:
    """Run ``jobs`` on ``actors``, one at a time each, and yield each job with its Outcome as it finishes.

    A job whose worker raised, or died more often than Ray retries, is a ``failed`` Outcome naming why.
    """
    import ray

    idle, waiting, running = list(actors), deque(jobs), {}
    while waiting or running:
        while idle and waiting:
            actor, job = idle.pop(), waiting.popleft()
            running[actor.analyse.remote(job)] = (job, actor)
        [ref], _ = ray.wait(list(running), num_returns=1)
        job, actor = running.pop(ref)
        idle.append(actor)
        yield job, _outcome(ref, job)


def _outcome(ref, job: Job) -> Outcome:
    import ray
    from ray.exceptions import RayError

    try:
        return ray.get(ref)
    except RayError as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        return Outcome(job.name, "failed", f"the worker failed: {reason}")
