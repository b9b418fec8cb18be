"""Host commands, systemd control and the post-restart verification of the kubelet.

Every host command is an argv list run by `run`, whose error carries argv, exit code, stdout
and stderr. In the DaemonSet the commands go through `nsenter -t 1 -m` into the host's mount
namespace (hostPID makes PID 1 the host's systemd); `--restart-mode none` runs none at all.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from nodecred.errors import NodecredError
from nodecred.host.flags import BIN_DIR_FLAG, CONFIG_FLAG, flag_values

HEALTHZ = "http://127.0.0.1:10248/healthz"


class CommandError(NodecredError):
    def __init__(self, argv: list[str], code: int, stdout: str, stderr: str) -> None:
        detail = (stderr or stdout).strip().splitlines()[-1:] or [""]
        super().__init__(f"{' '.join(argv)} exited {code}: {detail[0][:300]}")
        self.argv, self.code, self.stdout, self.stderr = argv, code, stdout, stderr


def run(argv: list[str], timeout: float = 120.0) -> str:
    """The one place nodecred runs a host command."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise CommandError(argv, 127, "", f"{argv[0]}: not found") from None
    except subprocess.TimeoutExpired as err:
        raise CommandError(argv, -1, "", f"timed out after {err.timeout} s") from None
    if result.returncode != 0:
        raise CommandError(argv, result.returncode, result.stdout, result.stderr)
    return result.stdout


@dataclass(frozen=True)
class UnitStatus:
    main_pid: int
    active_state: str
    active_enter_us: int  # CLOCK_MONOTONIC, microseconds


class Systemd:
    def __init__(self, nsenter: bool = True, runner: Callable[[list[str]], str] = run) -> None:
        self.prefix = ["nsenter", "-t", "1", "-m", "--"] if nsenter else []
        self.run = runner

    def _systemctl(self, *args: str) -> str:
        return self.run([*self.prefix, "systemctl", *args])

    def daemon_reload(self) -> None:
        self._systemctl("daemon-reload")

    def restart(self, unit: str) -> None:
        self._systemctl("restart", "--no-block", unit)

    def status(self, unit: str) -> UnitStatus:
        out = self._systemctl("show", "-p", "MainPID,ActiveState,ActiveEnterTimestampMonotonic", unit)
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return UnitStatus(
            int(values.get("MainPID", "0") or 0),
            values.get("ActiveState", ""),
            int(values.get("ActiveEnterTimestampMonotonic", "0") or 0),
        )

    def cat(self, unit: str) -> dict[str, bytes]:
        """The unit's files as systemd has loaded them (those under /run included); {} if none."""
        try:
            return parse_cat(self._systemctl("cat", "--no-pager", unit))
        except CommandError:
            return {}

    def journal(self, unit: str, lines: int = 20) -> str:
        try:
            return self.run(
                [*self.prefix, "journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"]
            )
        except CommandError as err:
            return f"(journal unavailable: {err})"


def parse_cat(text: str) -> dict[str, bytes]:
    """`systemctl cat` output -> {path: contents}. Each file follows a `# /path` header line that
    opens the output or follows a blank line; a comment inside a file is not such a header
    unless it names a unit file path, which is checked against systemd's directories."""
    files: dict[str, list[str]] = {}
    current = ""
    previous_blank = True
    for line in text.splitlines():
        candidate = line[2:].strip() if line.startswith("# /") else ""
        if candidate and previous_blank and "/systemd/" in candidate and " " not in candidate:
            current = candidate
            files[current] = []
        elif current:
            files[current].append(line)
        previous_blank = not line.strip()
    out = {}
    for path, lines in files.items():
        while lines and not lines[-1].strip():
            lines.pop()  # systemctl separates files with a blank line
        out[path] = ("\n".join(lines) + "\n").encode()
    return out


def proc_argv(pid: int, proc: str = "/proc") -> list[str]:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    return [part.decode("utf-8", errors="replace") for part in raw.split(b"\0") if part]


def healthz(url: str = HEALTHZ, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed http URL
            return bool(response.status == 200 and response.read(64).strip() == b"ok")
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class Expectation:
    unit: str
    old_pid: int
    written_us: int  # CLOCK_MONOTONIC microseconds when the last file was written
    flags: dict[str, str]  # flag -> value, each exactly once on the new kubelet's argv
    forbidden_values: tuple[str, ...] = ()
    embedded_kubelet: bool = False


def argv_problem(argv: list[str], expect: Expectation) -> str:
    """Why ARGV is not what the plan expects, or ""; pure."""
    for flag, value in expect.flags.items():
        found = flag_values(argv, flag)
        if found != [value]:
            return f"the new kubelet has {flag} {found or 'missing'}, expected once: {value}"
    for flag in (CONFIG_FLAG, BIN_DIR_FLAG):
        for value in flag_values(argv, flag):
            if value in expect.forbidden_values:
                return f"the new kubelet still has {flag}={value}"
    return ""


def verify(
    systemd: Systemd,
    expect: Expectation,
    timeout: float,
    proc: str = "/proc",
    health: Callable[[], bool] = healthz,
) -> str:
    """Wait for a new, healthy kubelet with the expected flags; "" when it came, else why not."""
    deadline = time.monotonic() + timeout
    why = "the kubelet did not restart"
    while time.monotonic() < deadline:
        try:
            status = systemd.status(expect.unit)
        except CommandError as err:
            why = str(err)
            time.sleep(1)
            continue
        if status.active_state != "active" or status.main_pid in (0, expect.old_pid):
            why = f"{expect.unit} is {status.active_state or 'unknown'} (main PID {status.main_pid})"
        elif status.active_enter_us <= expect.written_us:
            why = f"{expect.unit} became active before nodecred's change"
        elif not expect.embedded_kubelet and (
            problem := argv_problem(proc_argv(status.main_pid, proc), expect)
        ):
            why = problem
        elif not health():
            why = "the kubelet's /healthz does not answer ok"
        else:
            return ""
        time.sleep(0.5)
    return why
