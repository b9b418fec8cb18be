"""The on-disk token cache shared by concurrent invocations.

N kubelet execs that miss at once must make one token call: the first takes an
exclusive flock on the key's lock file, the others wait on it and then read
what it wrote. Entries are written temp + fsync + rename, 0600 in a 0700
directory, and are trusted only when owned by us and not readable by others.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from collections.abc import Callable, Iterator

from nodecred.provider.token import BackendError, Deadline, Token

# A cached token is served only while it has at least this long to live.
MIN_REMAINING = 60.0


class TokenCache:
    def __init__(self, directory: str, min_remaining: float = MIN_REMAINING) -> None:
        self.directory = directory
        self.min_remaining = min_remaining

    def _paths(self, key: str) -> tuple[str, str]:
        import hashlib  # lazily, like tempfile below: an unmatched image needs neither

        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return os.path.join(self.directory, digest + ".json"), os.path.join(self.directory, digest + ".lock")

    def _ensure_directory(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        info = os.lstat(self.directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise BackendError(
                f"cache directory {self.directory} is not a directory owned by uid {os.geteuid()}"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(self.directory, 0o700)

    def _read(self, path: str) -> Token | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
                return None  # foreign or exposed: never trusted, replaced on the next write
            try:
                raw = json.loads(handle.read(64 * 1024))
                token = Token(str(raw["username"]), str(raw["password"]), raw.get("expires_at"))
            except (ValueError, KeyError, TypeError):
                return None
        remaining = token.valid_for()
        if remaining is not None and remaining < self.min_remaining:
            return None
        return token

    def _write(self, path: str, token: Token) -> None:
        body = json.dumps(
            {"username": token.username, "password": token.password, "expires_at": token.expires_at}
        ).encode()
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self, lock_path: str, deadline: Deadline) -> Iterator[None]:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline.expired():
                        raise BackendError("timed out waiting for another invocation's token call") from None
                    time.sleep(0.01)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def get(self, key: str, fetch: Callable[[], Token], deadline: Deadline) -> Token:
        """The cached token for KEY, or FETCH's result stored for the others."""
        self._ensure_directory()
        path, lock_path = self._paths(key)
        token = self._read(path)
        if token is not None:
            return token
        with self._locked(lock_path, deadline):
            token = self._read(path)
            if token is None:
                token = fetch()
                self._write(path, token)
        return token
