"""systemd unit files as systemd reads them: precedence, drop-ins, environment, ExecStart expansion.

Pure: every function takes file contents, never a path on disk. Written by hand because no
Python library implements systemd's loading rules; each rule cites systemd.unit(5),
systemd.exec(5) or systemd.service(5).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# systemd.unit(5) "Unit File Load Path", system manager, highest precedence first.
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
WHITESPACE = " \t\n\r"
_PLAIN_WORDS = re.compile(r"[^ \t\n\r]+")


class UnitError(ValueError):
    """A unit the kubelet could not be started from, or one nodecred cannot read with certainty."""


def logical_lines(text: str) -> list[str]:
    """Lines with comments dropped and backslash continuations joined (systemd.syntax(7))."""
    lines: list[str] = []
    pending: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if pending is not None and line[:1] in ("#", ";"):
            continue  # a comment inside a continued line is skipped
        if pending is None and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending = (pending or "") + line[:-1] + " "
            continue
        lines.append((pending or "") + line)
        pending = None
    if pending is not None:
        lines.append(pending.rstrip())
    return lines


def parse_unit(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order."""
    section = ""
    out = []
    for line in logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if sep:
            out.append((section, key.strip(), value.strip()))
    return out


def split_words(text: str, unquote: bool = True) -> list[str]:
    """systemd's extract_first_word(): whitespace-separated, "double" and 'single' quotes, \\ escapes."""
    if not ('"' in text or "'" in text or "\\" in text):
        return _PLAIN_WORDS.findall(text)  # most lines quote nothing: no walk character by character
    return _split_quoted(text, unquote)


def _split_quoted(text: str, unquote: bool) -> list[str]:
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in WHITESPACE:
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if quote:
                if ch == quote:
                    quote = ""
                    if not unquote:
                        word.append(ch)
                elif ch == "\\" and quote == '"' and i + 1 < n:
                    i += 1
                    word.append(text[i] if unquote else "\\" + text[i])
                else:
                    word.append(ch)
            elif ch in WHITESPACE:
                break
            elif ch in "\"'":
                quote = ch
                if not unquote:
                    word.append(ch)
            elif ch == "\\" and i + 1 < n:
                i += 1
                word.append(text[i] if unquote else "\\" + text[i])
            else:
                word.append(ch)
            i += 1
        if quote:
            raise UnitError(f"unbalanced {quote} quote in {text!r}")
        words.append("".join(word))


def parse_environment(value: str) -> dict[str, str]:
    """Environment=: space-separated VAR=VALUE words, each optionally quoted."""
    out = {}
    for word in split_words(value):
        key, sep, val = word.partition("=")
        if sep and key:
            out[key] = val
    return out


def parse_env_file(text: str) -> dict[str, str]:
    """EnvironmentFile= contents: VAR=VALUE lines, # and ; comments, quotes, continuations."""
    out: dict[str, str] = {}
    for line in logical_lines(text):
        key, sep, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export ") :].strip()
        if not sep or not key:
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            words = split_words(value)
            value = words[0] if len(words) == 1 else " ".join(words)
        out[key] = value
    return out


def expand_exec(command: str, env: Mapping[str, str]) -> list[str]:
    """ExecStart= expanded (systemd.service(5) "Command lines"): a word that is exactly $VAR
    splits the value into words (quotes honoured); ${VAR} inside any word inserts the value
    as is; $$ is a literal $. The leading - @ + ! : prefixes are dropped."""
    command = command.lstrip()
    while command[:1] in ("-", "@", "+", "!", ":"):
        command = command[1:]
    argv: list[str] = []
    for raw in split_words(command, unquote=False):
        bare = raw[1:] if raw.startswith("$") and not raw.startswith("${") else ""
        if bare and bare.replace("_", "").isalnum():
            argv.extend(split_words(env.get(bare, "")))
            continue
        argv.append(_expand_braces(_unquote_word(raw), env))
    return argv


def _unquote_word(raw: str) -> str:
    words = split_words(raw)
    return words[0] if words else ""


def _expand_braces(word: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(word):
        if word.startswith("$$", i):
            out.append("$")
            i += 2
        elif word.startswith("${", i) and "}" in word[i:]:
            end = word.index("}", i)
            out.append(env.get(word[i + 2 : end], ""))
            i = end + 1
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class EnvironmentFileRef:
    path: str
    optional: bool


@dataclass
class Service:
    """One unit after its file and drop-ins are read, before the environment files are."""

    name: str
    path: str  # the unit file systemd loads
    dropins: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[EnvironmentFileRef] = field(default_factory=list)
    exec_start: str = ""
    exec_start_source: str = ""  # the file whose ExecStart= won

    @property
    def sources(self) -> list[str]:
        return [self.path, *self.dropins]


def unit_paths(name: str) -> list[str]:
    return [f"{d}/{name}" for d in UNIT_DIRS]


def dropin_dirs(name: str) -> list[str]:
    return [f"{d}/{name}.d" for d in UNIT_DIRS]


def load_service(
    name: str,
    read: Callable[[str], bytes | None],
    listdir: Callable[[str], list[str]],
) -> Service | None:
    """The service NAME as systemd loads it, or None when no unit file defines it.

    READ returns a file's bytes (None: absent), LISTDIR a directory's entry names ([] absent).
    A unit file that is a symlink to /dev/null is masked: treated as absent.
    """
    path = next((p for p in unit_paths(name) if read(p) is not None), None)
    if path is None:
        return None
    service = Service(name, path)
    # Drop-ins: the same file name in a higher-precedence directory masks the lower one;
    # all of them apply in lexical order of their file names (systemd.unit(5)).
    chosen: dict[str, str] = {}
    for directory in reversed(dropin_dirs(name)):
        for entry in listdir(directory):
            if entry.endswith(".conf"):
                chosen[entry] = f"{directory}/{entry}"
    service.dropins = [chosen[k] for k in sorted(chosen)]
    for source in service.sources:
        data = read(source)
        if data is None:
            continue
        _apply(service, source, data.decode("utf-8", errors="replace"))
    return service


def _apply(service: Service, source: str, text: str) -> None:
    for section, key, value in parse_unit(text):
        if section != "Service":
            continue
        if key == "Environment":
            if value:
                service.environment.update(parse_environment(value))
            else:
                service.environment.clear()
        elif key == "EnvironmentFile":
            if not value:
                service.environment_files.clear()
                continue
            for word in split_words(value):
                optional = word.startswith("-")
                service.environment_files.append(EnvironmentFileRef(word.lstrip("-"), optional))
        elif key == "ExecStart":
            service.exec_start = value  # an empty assignment resets; a later one replaces
            service.exec_start_source = source


def environment(service: Service, read: Callable[[str], bytes | None]) -> dict[str, str]:
    """Environment= then each EnvironmentFile= in order; files override Environment= (systemd.exec(5))."""
    env = dict(service.environment)
    for ref in service.environment_files:
        data = read(ref.path)
        if data is None:
            if ref.optional:
                continue
            raise UnitError(f"{service.name}: EnvironmentFile={ref.path} does not exist (systemd would fail)")
        env.update(parse_env_file(data.decode("utf-8", errors="replace")))
    return env


def effective_argv(service: Service, read: Callable[[str], bytes | None]) -> list[str]:
    if not service.exec_start:
        raise UnitError(f"{service.name} has no ExecStart=")
    return expand_exec(service.exec_start, environment(service, read))


def variables_in(command: str) -> list[str]:
    """The names of the $VAR words of an ExecStart= line, in order (the ones that split)."""
    names = []
    for raw in split_words(command, unquote=False):
        if raw.startswith("$") and not raw.startswith("${") and raw[1:].replace("_", "").isalnum():
            names.append(raw[1:])
    return names
