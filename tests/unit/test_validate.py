"""Port of Test_validateCredentialProviderConfig (config_test.go, newest): exact kubelet messages."""

from __future__ import annotations

import pytest

from nodecred.kubelet import goduration
from nodecred.kubelet.model import CredentialProvider, CredentialProviderConfig, TokenAttributes
from nodecred.kubelet.validate import validate
from nodecred.kubelet.versions import KubeletVersion

V1 = "credentialprovider.kubelet.k8s.io/v1"
V1A1 = "credentialprovider.kubelet.k8s.io/v1alpha1"
V1B1 = "credentialprovider.kubelet.k8s.io/v1beta1"
MIN = goduration.MINUTE
GATE = "KubeletServiceAccountTokenForCredentialProviders"
QNAME = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def provider(
    name: str = "foobar",
    images: tuple[str, ...] = ("foobar.registry.io",),
    duration: int | None = MIN,
    api: str = V1A1,
    token: TokenAttributes | None = None,
) -> CredentialProvider:
    return CredentialProvider(name, images, duration, api, token_attributes=token)


def token(
    audience: str = "audience",
    cache: str = "ServiceAccount",
    require: bool | None = True,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> TokenAttributes:
    return TokenAttributes(audience, cache, require, required, optional)


CASES = [
    (
        "no providers",
        [],
        False,
        "providers: Required value: at least 1 item in plugins is required",
    ),
    (
        "no matchImages",
        [provider(images=())],
        False,
        "providers.matchImages: Required value: at least 1 item in matchImages is required",
    ),
    (
        "no default cache duration",
        [provider(duration=None)],
        False,
        "providers.defaultCacheDuration: Required value",
    ),
    (
        "name contains /",
        [provider("foo/../bar")],
        False,
        "providers.name: Invalid value: \"foo/../bar\": provider name cannot contain '/'",
    ),
    (
        "name is .",
        [provider(".")],
        False,
        "providers.name: Invalid value: \".\": provider name cannot be '.'",
    ),
    (
        "name is ..",
        [provider("..")],
        False,
        "providers.name: Invalid value: \"..\": provider name cannot be '..'",
    ),
    (
        "name contains spaces",
        [provider("foo bar")],
        False,
        'providers.name: Invalid value: "foo bar": provider name cannot contain spaces',
    ),
    (
        "duplicate names",
        [provider(), provider(images=("bar.registry.io",))],
        False,
        'providers.name: Duplicate value: "foobar"',
    ),
    ("no apiVersion", [provider(api="")], False, "providers.apiVersion: Required value"),
    (
        "invalid apiVersion",
        [provider(api="credentialprovider.kubelet.k8s.io/v1alpha0")],
        False,
        'providers.apiVersion: Unsupported value: "credentialprovider.kubelet.k8s.io/v1alpha0": supported values: '
        '"credentialprovider.kubelet.k8s.io/v1", "credentialprovider.kubelet.k8s.io/v1alpha1", '
        '"credentialprovider.kubelet.k8s.io/v1beta1"',
    ),
    (
        "negative default cache duration",
        [provider(duration=-MIN)],
        False,
        'providers.defaultCacheDuration: Invalid value: "-1m0s": must be greater than or equal to 0',
    ),
    (
        "invalid match image",
        [provider(images=("%invalid%",))],
        False,
        'providers.matchImages: Invalid value: "%invalid%": match image is invalid: parse "https://%invalid%": '
        'invalid URL escape "%in"',
    ),
    ("valid config", [provider()], False, ""),
    (
        "token attributes without the gate",
        [provider(api=V1, token=token())],
        False,
        "providers.tokenAttributes: Forbidden: tokenAttributes is not supported when "
        "KubeletServiceAccountTokenForCredentialProviders feature gate is disabled",
    ),
    (
        "empty audience",
        [
            provider(
                api=V1,
                token=token(
                    audience="",
                    cache="Token",
                    required=("prefix.io/annotation-1", "prefix.io/annotation-2"),
                ),
            )
        ],
        True,
        "providers.tokenAttributes.serviceAccountTokenAudience: Required value",
    ),
    (
        "empty cacheType",
        [provider(api=V1, token=token(cache=""))],
        True,
        "providers.tokenAttributes.cacheType: Required value: cacheType is required to be set when tokenAttributes "
        "is specified. Supported values are: ServiceAccount, Token",
    ),
    (
        "invalid cacheType",
        [provider(api=V1, token=token(cache="invalid-cache-type"))],
        True,
        'providers.tokenAttributes.cacheType: Unsupported value: "invalid-cache-type": supported values: '
        '"ServiceAccount", "Token"',
    ),
    (
        "requireServiceAccount unset",
        [
            provider(
                api=V1,
                token=token(require=None, required=("prefix.io/annotation-1", "prefix.io/annotation-2")),
            )
        ],
        True,
        "providers.tokenAttributes.requireServiceAccount: Required value",
    ),
    (
        "required keys not qualified names",
        [
            provider(
                api=V1,
                token=token(cache="Token", required=("cantendwithadash-", "now-with-dashes/simple")),
            )
        ],
        True,
        'providers.tokenAttributes.requiredServiceAccountAnnotationKeys: Invalid value: "cantendwithadash-": '
        + QNAME,
    ),
    (
        "optional keys not qualified names",
        [provider(api=V1, token=token(optional=("cantendwithadash-", "now-with-dashes/simple")))],
        True,
        'providers.tokenAttributes.optionalServiceAccountAnnotationKeys: Invalid value: "cantendwithadash-": '
        + QNAME,
    ),
    (
        "duplicate required keys",
        [
            provider(
                api=V1,
                token=token(cache="Token", required=("now-with-dashes/simple", "now-with-dashes/simple")),
            )
        ],
        True,
        'providers.tokenAttributes.requiredServiceAccountAnnotationKeys: Duplicate value: "now-with-dashes/simple"',
    ),
    (
        "duplicate optional keys",
        [provider(api=V1, token=token(optional=("now-with-dashes/simple", "now-with-dashes/simple")))],
        True,
        'providers.tokenAttributes.optionalServiceAccountAnnotationKeys: Duplicate value: "now-with-dashes/simple"',
    ),
    (
        "key both required and optional",
        [
            provider(
                api=V1,
                token=token(
                    cache="Token",
                    required=("now-with-dashes/simple-1", "now-with-dashes/simple-2"),
                    optional=("now-with-dashes/simple-2", "now-with-dashes/simple-3"),
                ),
            )
        ],
        True,
        'providers.tokenAttributes: Invalid value: ["now-with-dashes/simple-2"]: annotation keys cannot be both '
        "required and optional",
    ),
    (
        "required keys with requireServiceAccount false",
        [
            provider(
                api=V1,
                token=token(require=False, required=("now-with-dashes/simple-1", "now-with-dashes/simple-2")),
            )
        ],
        True,
        "providers.tokenAttributes.requiredServiceAccountAnnotationKeys: Forbidden: requireServiceAccount cannot be "
        "false when requiredServiceAccountAnnotationKeys is set",
    ),
    (
        "valid with the gate",
        [
            provider(
                api=V1,
                token=token(
                    cache="Token",
                    required=("now-with-dashes/simple-1", "now-with-dashes/simple-2"),
                    optional=("now-with-dashes/simple-3",),
                ),
            )
        ],
        True,
        "",
    ),
    (
        "tokenAttributes with v1alpha1",
        [provider(api=V1A1, token=token(cache="Token", required=("now-with-dashes/simple",)))],
        True,
        "providers.tokenAttributes: Forbidden: tokenAttributes is only supported for "
        "credentialprovider.kubelet.k8s.io/v1 API version",
    ),
    (
        "tokenAttributes with v1beta1",
        [provider(api=V1B1, token=token(required=("now-with-dashes/simple",)))],
        True,
        "providers.tokenAttributes: Forbidden: tokenAttributes is only supported for "
        "credentialprovider.kubelet.k8s.io/v1 API version",
    ),
]


@pytest.mark.parametrize(("name", "providers", "gate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_upstream_validation_table(
    name: str, providers: list[CredentialProvider], gate: bool, expected: str
) -> None:
    config = CredentialProviderConfig(tuple(providers))
    assert validate(config, KubeletVersion.newest(), {GATE: gate}) == expected


def test_several_errors_aggregate_in_brackets() -> None:
    config = CredentialProviderConfig((provider("a b", images=()),))
    assert validate(config) == (
        '[providers.name: Invalid value: "a b": provider name cannot contain spaces, '
        "providers.matchImages: Required value: at least 1 item in matchImages is required]"
    )


def test_default_gate_follows_the_kubelet_version() -> None:
    config = CredentialProviderConfig((provider(api=V1, token=token()),))
    assert validate(config, KubeletVersion.parse("1.34")) == ""
    assert "feature gate is disabled" in validate(config, KubeletVersion.parse("1.33"))


@pytest.mark.parametrize(
    ("image", "valid"),
    [
        ("", True),
        ("https://registry.io", True),
        ("registry.io/*", True),
        ("[", False),
        ("registry.io:abc", False),
        ("registry io", False),
        ("registry.io/%zz", False),
    ],
)
def test_match_image_validity_follows_go_url_parse(image: str, valid: bool) -> None:
    config = CredentialProviderConfig((provider(images=(image,)),))
    assert (validate(config) == "") is valid


def test_exec_api_versions_follow_the_kubelet_version() -> None:
    config = CredentialProviderConfig((provider(api=V1),))
    assert "Unsupported value" in validate(config, KubeletVersion.parse("1.25"))
    assert validate(config, KubeletVersion.parse("1.26")) == ""
