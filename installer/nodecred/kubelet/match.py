"""URLsMatchStr: does a matchImages pattern match an image, and if not, why not."""

from __future__ import annotations

from dataclasses import dataclass

from nodecred.kubelet.gourl import (
    BadPattern,
    ParsedURL,
    URLError,
    filepath_match,
    parse_schemeless,
    split_host_port,
)


@dataclass(frozen=True)
class MatchResult:
    matched: bool
    reason: str = ""  # why not, in words an operator can act on

    def __bool__(self) -> bool:
        return self.matched


def _split(url: ParsedURL) -> tuple[list[str], str]:
    """credentialprovider.SplitURL: host labels and port ("" when none or unparseable)."""
    split = split_host_port(url.host)
    host, port = split if split is not None else (url.host, "")
    return host.split("."), port


def explain(glob: str, target: str) -> MatchResult:
    try:
        glob_url = parse_schemeless(glob)
    except URLError as err:
        return MatchResult(False, f"pattern {glob!r} is invalid: {err}")
    try:
        target_url = parse_schemeless(target)
    except URLError as err:
        return MatchResult(False, f"image {target!r} is invalid: {err}")
    glob_labels, glob_port = _split(glob_url)
    target_labels, target_port = _split(target_url)
    if glob_port != target_port:
        want = f":{glob_port}" if glob_port else "no port"
        got = f":{target_port}" if target_port else "no port"
        return MatchResult(False, f"port differs: pattern has {want}, image has {got}")
    if len(glob_labels) != len(target_labels):
        return MatchResult(
            False,
            f"label count differs: pattern host has {len(glob_labels)}, "
            f"image host has {len(target_labels)} (a * never spans a dot)",
        )
    if not target_url.path.startswith(glob_url.path):
        return MatchResult(
            False,
            f"path prefix: image path {target_url.path!r} does not start with {glob_url.path!r}",
        )
    for index, (glob_label, target_label) in enumerate(zip(glob_labels, target_labels, strict=True)):
        try:
            if not filepath_match(glob_label, target_label):
                return MatchResult(
                    False, f"glob: label {index + 1} {glob_label!r} does not match {target_label!r}"
                )
        except BadPattern:
            return MatchResult(False, f"glob: label {index + 1} {glob_label!r} is a malformed pattern")
    return MatchResult(True)


def urls_match(glob: str, target: str) -> bool:
    """credentialprovider.URLsMatchStr, errors counted as no match (as the kubelet does)."""
    return explain(glob, target).matched


def provider_matches(match_images: tuple[str, ...] | list[str], image: str) -> bool:
    """isImageAllowed: the provider runs when any of its patterns matches."""
    return any(urls_match(pattern, image) for pattern in match_images)
