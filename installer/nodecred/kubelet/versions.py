"""What each kubelet minor version accepts: API versions, decoding mode, features, gates.

Facts from shared/kubelet-contract.md §1 (S1, S6, S10-S13). Versions newer than
NEWEST follow NEWEST's rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nodecred.errors import UsageError

OLDEST = (1, 20)
NEWEST = (1, 37)

CONFIG_GROUP = "kubelet.config.k8s.io"
EXEC_GROUP = "credentialprovider.kubelet.k8s.io"
SA_TOKEN_GATE = "KubeletServiceAccountTokenForCredentialProviders"  # noqa: S105 - a gate name
PROVIDERS_GATE = "KubeletCredentialProviders"

# API version -> first kubelet minor that knows it (config and exec APIs moved together).
_API_SINCE = {"v1alpha1": 20, "v1beta1": 24, "v1": 26}


@dataclass(frozen=True)
class KubeletVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> KubeletVersion:
        m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?", text.strip())
        if not m:
            raise UsageError(f"--kubelet-version: {text!r} is not a version; give MAJOR.MINOR, e.g. 1.31")
        version = cls(int(m.group(1)), int(m.group(2)))
        if (version.major, version.minor) < OLDEST:
            raise UsageError(
                f"--kubelet-version: {text} predates credential providers (kubelet 1.20); give 1.20 or newer"
            )
        return version

    @classmethod
    def newest(cls) -> KubeletVersion:
        return cls(*NEWEST)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def _at_least(self, minor: int) -> bool:
        return (self.major, self.minor) >= (1, minor)

    @property
    def strict_decoding(self) -> bool:
        """Unknown and duplicate fields are errors (PR #128062, v1.32)."""
        return self._at_least(32)

    @property
    def reads_directories(self) -> bool:
        """--image-credential-provider-config may name a directory (PR #131658, v1.34)."""
        return self._at_least(34)

    @property
    def has_token_attributes(self) -> bool:
        return self._at_least(33)

    @property
    def has_cache_type(self) -> bool:
        return self._at_least(34)

    @property
    def has_config_hash(self) -> bool:
        return self._at_least(34)

    def config_versions(self) -> tuple[str, ...]:
        return tuple(v for v, since in _API_SINCE.items() if self._at_least(since))

    def exec_api_versions(self) -> tuple[str, ...]:
        """Sorted like sets.StringKeySet(apiVersions).List() in the kubelet."""
        return tuple(sorted(f"{EXEC_GROUP}/{v}" for v in self.config_versions()))

    def default_gates(self) -> dict[str, bool]:
        gates: dict[str, bool] = {}
        if not self._at_least(29):
            gates[PROVIDERS_GATE] = self._at_least(24)
        if self._at_least(33):
            gates[SA_TOKEN_GATE] = self._at_least(34)
        return gates


def parse_feature_gates(text: str, version: KubeletVersion) -> dict[str, bool]:
    """--feature-gates K=V,...: the kubelet's defaults for VERSION overridden by TEXT."""
    gates = version.default_gates()
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or value.lower() not in ("true", "false"):
            raise UsageError(f"--feature-gates: {item!r} is not NAME=true|false; e.g. {SA_TOKEN_GATE}=true")
        if key not in gates:
            known = ", ".join(sorted(gates)) or "none"
            raise UsageError(
                f"--feature-gates: kubelet {version} has no gate {key!r} that concerns "
                f"credential providers (known: {known})"
            )
        gates[key] = value.lower() == "true"
    return gates
