"""Which providers the kubelet would exec for an image, in its order, and why the others not."""

from __future__ import annotations

from dataclasses import dataclass

from nodecred.kubelet.match import explain as explain_pattern
from nodecred.kubelet.model import CredentialProviderConfig


@dataclass(frozen=True)
class Verdict:
    provider: str
    runs: bool
    matched_by: str  # the first pattern that matched, "" when none
    misses: tuple[tuple[str, str], ...]  # (pattern, reason) for each pattern that did not match


def explain(config: CredentialProviderConfig, image: str) -> list[Verdict]:
    verdicts = []
    for provider in config.providers:
        misses = []
        matched_by = ""
        for pattern in provider.match_images:
            result = explain_pattern(pattern, image)
            if result.matched:
                matched_by = pattern
                break
            misses.append((pattern, result.reason))
        verdicts.append(Verdict(provider.name, bool(matched_by), matched_by, tuple(misses)))
    return verdicts
