"""CredentialProviderConfig as the kubelet holds it internally (all API versions folded)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExecEnvVar:
    name: str
    value: str


@dataclass(frozen=True)
class TokenAttributes:
    service_account_token_audience: str = ""
    cache_type: str = ""
    require_service_account: bool | None = None
    required_annotation_keys: tuple[str, ...] = ()
    optional_annotation_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialProvider:
    name: str
    match_images: tuple[str, ...]
    default_cache_duration: int | None  # nanoseconds; None when absent
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[ExecEnvVar, ...] = ()
    token_attributes: TokenAttributes | None = None


@dataclass(frozen=True)
class CredentialProviderConfig:
    providers: tuple[CredentialProvider, ...] = field(default_factory=tuple)

    def names(self) -> list[str]:
        return [p.name for p in self.providers]

    def find(self, name: str) -> CredentialProvider | None:
        return next((p for p in self.providers if p.name == name), None)
