"""Kubelet flags inside the places distributions keep them: an argv, an environment variable in an
EnvironmentFile, a MicroK8s args file. Pure text in, text out; every other line kept as it was."""

from __future__ import annotations

import re
from collections.abc import Mapping

from nodecred.host.units import parse_env_file, split_words

CONFIG_FLAG = "--image-credential-provider-config"
BIN_DIR_FLAG = "--image-credential-provider-bin-dir"
PROVIDER_FLAGS = (CONFIG_FLAG, BIN_DIR_FLAG)


def flag_values(argv: list[str], flag: str) -> list[str]:
    """Every value FLAG gets in ARGV, in order (pflag: `--f=v` or `--f v`; the last one wins)."""
    values = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == flag and i + 1 < len(argv):
            values.append(argv[i + 1])
            i += 2
            continue
        if word.startswith(flag + "="):
            values.append(word[len(flag) + 1 :])
        i += 1
    return values


def without_flags(words: list[str], flags: tuple[str, ...]) -> list[str]:
    out = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in flags:
            i += 2
            continue
        if any(word.startswith(f + "=") for f in flags):
            i += 1
            continue
        out.append(word)
        i += 1
    return out


def with_flags(words: list[str], flags: Mapping[str, str]) -> list[str]:
    """WORDS with every FLAGS key set exactly once, to its value, at the end."""
    kept = without_flags(words, tuple(flags))
    return kept + [f"{name}={value}" for name, value in flags.items()]


def quote_word(word: str) -> str:
    """A word systemd and a shell both read back as WORD."""
    if word and not re.search(r"[\s\"'\\$`]", word):
        return word
    return '"' + re.sub(r'(["\\$`])', r"\\\1", word) + '"'


_ASSIGNMENT = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=)(.*)$")


def env_var_words(text: str, var: str) -> list[str]:
    return split_words(parse_env_file(text).get(var, ""))


def set_env_var_words(text: str, var: str, words: list[str]) -> str:
    """TEXT with VAR set to WORDS (one quoted value); other lines kept byte for byte.

    The last assignment of VAR is rewritten in place (it is the one that wins); when VAR is not
    assigned, a line is appended. A continued (backslash) assignment is replaced whole."""
    value = " ".join(quote_word(w) for w in words)
    line_text = f'{var}="{_escape_double(value)}"'
    lines = text.splitlines(keepends=True)
    target = None
    i = 0
    spans: list[tuple[int, int]] = []
    while i < len(lines):
        start = i
        while lines[i].rstrip("\r\n").endswith("\\") and i + 1 < len(lines):
            i += 1
        spans.append((start, i))
        m = _ASSIGNMENT.match(lines[start].rstrip("\r\n"))
        if m and m.group(2) == var and not lines[start].lstrip().startswith(("#", ";")):
            target = (start, i, m.group(1))
        i += 1
    if target is None:
        prefix = "" if not text or text.endswith("\n") else "\n"
        return text + prefix + line_text + "\n"
    start, end, lead = target
    ending = "\n" if lines[end].endswith("\n") else ""
    return "".join(lines[:start]) + lead + line_text + ending + "".join(lines[end + 1 :])


def _escape_double(value: str) -> str:
    # The value already carries per-word quoting; only the outer double quotes need escaping.
    return value.replace("\\", "\\\\").replace('"', '\\"')


def args_file_words(text: str) -> list[str]:
    """A MicroK8s args file: one flag per line (`--flag=value`), # comments."""
    words = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            words.extend(split_words(stripped))
    return words


def set_args_file_flags(text: str, flags: Mapping[str, str]) -> str:
    """TEXT with each FLAGS line set once (replaced in place, else appended); the rest kept."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    placed: set[str] = set()
    for line in lines:
        stripped = line.strip()
        name = stripped.split("=", 1)[0].split()[0] if stripped and not stripped.startswith("#") else ""
        if name in flags:
            if name not in placed:
                out.append(f"{name}={flags[name]}\n")
                placed.add(name)
            continue
        out.append(line)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    out.extend(f"{name}={value}\n" for name, value in flags.items() if name not in placed)
    return "".join(out)


def remove_args_file_flags(text: str, flags: tuple[str, ...]) -> str:
    kept = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        name = stripped.split("=", 1)[0].split()[0] if stripped and not stripped.startswith("#") else ""
        if name not in flags:
            kept.append(line)
    return "".join(kept)
