"""Bytes -> one JSON-like document, the way apimachinery's serializer reads them.

JSON when the first non-blank byte is `{` (utilyaml.IsJSONBuffer), YAML otherwise,
first YAML document only (as yaml.v2 Unmarshal). Duplicate keys are reported
(strict mode treats them as errors), timestamps stay strings (yaml.v2 does not
turn them into times), and alias expansion is bounded like yaml.v2's
"excessive aliasing" guard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
_MAX_EXPANDED_NODES = 100_000


class DocumentError(ValueError):
    """The bytes are not one readable JSON or YAML document."""


@dataclass
class Document:
    data: Any
    fmt: str  # "json" or "yaml"
    duplicates: list[str] = field(default_factory=list)  # "line N: key "k"" / JSON paths


def is_json(raw: bytes) -> bool:
    return raw.lstrip(b" \t\r\n").startswith(b"{")


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = key_node.value
                if key in seen:
                    line = key_node.start_mark.line + 1
                    self.duplicates.append(f'line {line}: key "{key}" already set in map')
                seen.add(key)
        return dict(super().construct_mapping(node, deep=deep))


def _expanded_size(node: Any, memo: dict[int, int], depth: int = 0) -> int:
    if depth > 1000:
        raise DocumentError("yaml: exceeded max depth of 1000")
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a cycle counts once; yaml.v2 rejects cycles itself
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo, depth + 1) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
    memo[key] = size
    if size > _MAX_EXPANDED_NODES:
        raise DocumentError("yaml: document contains excessive aliasing")
    return size


def _json_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def _stringify_keys(value: Any) -> Any:
    """sigs.k8s.io/yaml turns every map key into a JSON string."""
    if isinstance(value, dict):
        return {_json_key(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


def _json_document(raw: bytes) -> Document:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                duplicates.append(f'duplicate field "{k}"')
            out[k] = v
        return out

    # Go's encoding/json replaces invalid UTF-8 in strings with U+FFFD; so do we.
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as err:
        raise DocumentError(f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise DocumentError("invalid JSON: nested too deeply") from None
    return Document(data=data, fmt="json", duplicates=duplicates)


def _yaml_document(raw: bytes) -> Document:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DocumentError(f"yaml: invalid UTF-8 at byte {err.start}") from None
    loader = _Loader(text)
    try:
        node = loader.get_node() if loader.check_node() else None
        if node is None:
            return Document(data=None, fmt="yaml")
        _expanded_size(node, {})
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise DocumentError(f"yaml: {where}{err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise DocumentError(f"yaml: {err}") from None
    except RecursionError:
        raise DocumentError("yaml: exceeded max depth") from None
    finally:
        loader.dispose()
    return Document(data=_stringify_keys(data), fmt="yaml", duplicates=loader.duplicates)


def read_document(raw: bytes) -> Document:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            f"file is {len(raw)} bytes; a credential provider config over "
            f"{MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB is refused"
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return _json_document(raw) if is_json(raw) else _yaml_document(raw)
