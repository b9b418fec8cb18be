"""The image string the kubelet matches and sends: ParseNormalizedNamed(image).Name().

Ported from github.com/distribution/reference (normalize.go, regexp.go): Docker
Hub defaults (`nginx` -> `docker.io/library/nginx`), tag and digest dropped.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEP + _ALNUM + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = r"(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*|" + _IPV6 + r")(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = r"(?:" + _DOMAIN + r"/)?" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_REFERENCE = re.compile(r"^(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?$")
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"


class ReferenceError(ValueError):
    """Not an image reference the kubelet can pull."""


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1 or (
        not any(c in name[:i] for c in ".:") and name[:i] != "localhost" and name[:i].lower() == name[:i]
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = name[:i], name[i + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def normalize(image: str) -> str:
    """The repository to pull for IMAGE: domain/path, no tag, no digest."""
    if _IDENTIFIER.match(image):
        raise ReferenceError(f"invalid repository name ({image}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(image)
    remote = remainder.split(":")[0]
    if remote.lower() != remote:
        raise ReferenceError(f"invalid reference format: repository name ({remote}) must be lowercase")
    match = _REFERENCE.match(domain + "/" + remainder)
    if not match:
        raise ReferenceError(f"invalid reference format: {image!r}")
    name = match.group(1)
    if len(name) > 255:
        raise ReferenceError("repository name must not be more than 255 characters")
    return name


def registry_host(image: str) -> str:
    """host[:port] of an already normalised image: the Registry cache key (Split(image, "/")[0])."""
    return image.split("/", maxsplit=1)[0]
