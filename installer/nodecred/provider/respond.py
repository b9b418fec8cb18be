"""Pure decisions of an invocation: which registry serves an image, what the response says."""

from __future__ import annotations

from nodecred.kubelet import goduration
from nodecred.kubelet.codec import Auth, CredentialProviderResponse
from nodecred.kubelet.match import provider_matches
from nodecred.kubelet.reference import ReferenceError, normalize
from nodecred.provider.settings import ProviderSettings, Registry
from nodecred.provider.token import Token

DEFAULT_STATIC_CACHE = 10 * goduration.MINUTE


def normalized(image: str) -> str:
    """The kubelet sends normalised names; a bare `nginx` from elsewhere is read as Docker Hub's."""
    try:
        return normalize(image)
    except ReferenceError:
        return image


def select_registry(settings: ProviderSettings, image: str) -> Registry | None:
    """The first registry whose match patterns match IMAGE, with the kubelet's matching rules."""
    return next((r for r in settings.registries if provider_matches(r.match, image)), None)


def cache_duration(token: Token, registry: Registry, now: float) -> int:
    """How long the kubelet may keep TOKEN: its real remaining life minus a safety margin."""
    remaining = token.valid_for(now)
    if remaining is None:
        return registry.cache_duration if registry.cache_duration is not None else DEFAULT_STATIC_CACHE
    margin = max(60.0, remaining * 0.1)
    seconds = int(remaining - margin)
    return max(0, seconds) * goduration.SECOND


def unmatched(api_version: str, settings: ProviderSettings) -> CredentialProviderResponse:
    """An image no registry serves: no credentials, remembered per registry for a short while."""
    return CredentialProviderResponse(api_version, "Registry", settings.unmatched_cache_duration, {})


def credentials(api_version: str, host: str, token: Token, duration: int) -> CredentialProviderResponse:
    return CredentialProviderResponse(
        api_version, "Registry", duration, {host: Auth(token.username, token.password)}
    )
