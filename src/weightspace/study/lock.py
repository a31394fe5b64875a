"""One study process per study directory: a lock file holding the owner's host and pid.

The lock is created with ``O_CREAT | O_EXCL`` (atomic on local and NFS v3+ file systems).
A lock left by a process that no longer exists on this host (a study killed with SIGKILL)
is stale and taken over; a lock held by a live process, or by another host, is refused
with a message that says how to proceed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from weightspace.errors import WeightspaceError

log = logging.getLogger(__name__)

LOCK_NAME = ".study.lock"


class StudyLockedError(WeightspaceError):
    """Another live study process writes to this study directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class StudyLock:
    """Context manager: ``with StudyLock(study_dir): ...``."""

    def __init__(self, study_dir: str | os.PathLike[str]) -> None:
        self.path = Path(study_dir) / LOCK_NAME
        self.acquired = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._check_stale()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.acquired = True
            return
        raise StudyLockedError(f"could not take the study lock {self.path}; try again")

    def _check_stale(self) -> None:
        try:
            owner = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            owner = {}
        pid, host = owner.get("pid"), owner.get("host")
        if not owner:  # written by a process killed between open() and write(), or racing
            if time.time() - self.path.stat().st_mtime < 5:
                time.sleep(1)
                return
        elif host == socket.gethostname() and isinstance(pid, int) and pid != os.getpid():
            if _alive(pid):
                raise StudyLockedError(
                    f"study directory {self.path.parent} is in use by process {pid} on this "
                    f"host; wait for it to finish, or stop it, then rerun (it resumes)"
                )
        elif host != socket.gethostname():
            raise StudyLockedError(
                f"study directory {self.path.parent} is locked by process {pid} on host "
                f"{host!r}; if that study is no longer running, delete {self.path} and rerun"
            )
        log.warning("removing stale study lock %s (owner %s)", self.path, owner or "unknown")
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def release(self) -> None:
        if self.acquired:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            self.acquired = False

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
