"""A lock file that no killed or vanished holder can wedge, safe on a shared filesystem (NFS included).

Taken with link(2) of a file of the taker's own onto the lock's name (the NFS-safe way that open(2)'s manual
gives, as Optuna and flufl.lock do); that file names the holder (host, pid). A lock is broken when its holder's
process is gone from this host, or when this process's own monotonic clock has seen it unchanged for the grace
period: never by comparing another host's clock with this one's. (flufl.lock judges a lock by a file time its
holder's clock set; Optuna's symlink lock reads the time of the lock's *target*, and spins at full speed for
ever when that does not exist, as when a driver was killed holding the lock of a claim it had not yet written.)
Locks here are held for milliseconds (a read and a write of one small file), so 30 s of grace is long;
``HPSWEEP_LOCK_GRACE_S`` sets it (longer for a filesystem that can stall for minutes).

``LinkLock`` serves as an Optuna journal's lock too (``JournalFileBackend(lock_obj=...)`` calls ``acquire`` and
``release``), so the sweep's journal and its claims share one kind of lock, without importing Optuna here.
"""

import json
import logging
import os
import socket
import stat
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

GRACE_S = 30.0
GRACE_ENV = "HPSWEEP_LOCK_GRACE_S"
HOST = socket.gethostname()


def process_gone(host: str, pid: int) -> bool:
    """Whether the process ``pid`` of ``host`` is known to be gone: only this host's processes can be known."""
    if host != HOST:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # another user's live process
    return False


class LinkLock:
    """A lock at ``path``: ``with LinkLock(path): ...``, or ``acquire``/``release`` (Optuna's interface)."""

    def __init__(self, path: Path | str, grace_s: float | None = None):
        self.path = Path(path)
        self.grace_s = grace_s if grace_s is not None else float(os.environ.get(GRACE_ENV) or GRACE_S)
        self._held: tuple[int, int] | None = None  # (device, inode) of the lock this process made

    def __enter__(self) -> "LinkLock":
        self.acquire()
        return self

    def __exit__(self, *_) -> None:
        self.release()

    def acquire(self) -> bool:
        own = self.path.with_name(f".{self.path.name}.{HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        own.write_text(json.dumps({"host": HOST, "pid": os.getpid()}))
        try:
            seen, since, pause = None, time.monotonic(), 0.001
            while not self._link(own):
                look = self._look()
                if look is None:
                    continue  # let go between our try and our look: try again at once
                if look != seen:
                    seen, since = look, time.monotonic()
                reason = self._stale(look, time.monotonic() - since)
                if reason is not None:
                    self._break(look, reason)
                    seen, pause = None, 0.001
                    continue
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
            made = os.stat(own)
            self._held = (made.st_dev, made.st_ino)
        finally:
            own.unlink(missing_ok=True)
        return True

    def release(self) -> None:
        """Let the lock go, where it is still this process's (another may have broken it as stale)."""
        held, self._held = self._held, None
        if held is None:
            return
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == held:
            self.path.unlink(missing_ok=True)
        else:
            log.warning("%s was broken as stale while this process held it (for over %.0f s)", self.path,
                        self.grace_s)

    def _link(self, own: Path) -> bool:
        try:
            os.link(own, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # NFS may report a link that was made as failed: the link count tells
            if os.stat(own).st_nlink == 2:
                return True
            raise

    def _look(self) -> tuple | None:
        """What the lock is now: its inode, its time and its holder (None where unreadable: a leftover symlink of
        Optuna's lock, or a file of another kind); None where it is gone."""
        try:
            found = os.lstat(self.path)
        except FileNotFoundError:
            return None
        holder = None
        if stat.S_ISREG(found.st_mode):
            try:
                record = json.loads(self.path.read_text())
                holder = (str(record["host"]), int(record["pid"]))
            except (OSError, ValueError, KeyError, TypeError):
                pass  # being replaced, or not one of ours: judged by its age alone
        return found.st_dev, found.st_ino, found.st_mtime_ns, holder

    def _stale(self, look: tuple, unchanged_s: float) -> str | None:
        holder = look[3]
        if holder is not None and process_gone(*holder):
            return f"its holder, pid {holder[1]} of this host, is gone"
        if unchanged_s > self.grace_s:
            return f"held unchanged for {unchanged_s:.0f} s (more than {self.grace_s:.0f} s)"
        return None

    def _break(self, look: tuple, reason: str) -> None:
        """Move the stale lock aside and remove it; where another process took the lock between our look and the
        move, give that one back."""
        aside = self.path.with_name(f".{self.path.name}.broken-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        moved = os.lstat(aside)
        if (moved.st_dev, moved.st_ino) != look[:2]:
            try:
                os.link(aside, self.path, follow_symlinks=False)
            except FileExistsError:
                pass
        else:
            log.warning("%s: broken (%s)", self.path, reason)
        aside.unlink(missing_ok=True)
