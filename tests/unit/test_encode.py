"""Writing our config and merging into someone else's: valid, format kept, idempotent."""

from __future__ import annotations

import json

import pytest

from nodecred.kubelet import goduration
from nodecred.kubelet.decode import decode
from nodecred.kubelet.encode import MergeError, merge, render
from nodecred.kubelet.model import CredentialProvider, CredentialProviderConfig, ExecEnvVar
from nodecred.kubelet.validate import validate

V1 = "credentialprovider.kubelet.k8s.io/v1"
OURS = CredentialProvider(
    "nodecred-provider",
    ("*", "*.*", "*.*.*"),
    5 * goduration.MINUTE,
    V1,
    args=("--settings", "/etc/nodecred/provider.yaml"),
    env=(ExecEnvVar("HOME", "/root"),),
)

# The config.json that EKS AMIs install (amazon-eks-ami install-worker.sh), 2-space JSON.
EKS_CONFIG = (
    json.dumps(
        {
            "apiVersion": "kubelet.config.k8s.io/v1",
            "kind": "CredentialProviderConfig",
            "providers": [
                {
                    "name": "ecr-credential-provider",
                    "matchImages": [
                        "*.dkr.ecr.*.amazonaws.com",
                        "*.dkr.ecr.*.amazonaws.com.cn",
                        "*.dkr.ecr-fips.*.amazonaws.com",
                        "public.ecr.aws",
                    ],
                    "defaultCacheDuration": "12h",
                    "apiVersion": V1,
                }
            ],
        },
        indent=2,
    ).encode()
    + b"\n"
)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_rendered_config_decodes_back_and_validates(fmt: str) -> None:
    config = CredentialProviderConfig((OURS,))
    data = render(config, fmt)
    assert decode(data) == config
    assert validate(decode(data)) == ""


def test_eks_node_keeps_its_ecr_provider_and_json_format() -> None:
    merged = merge(EKS_CONFIG, [OURS])
    config = decode(merged)
    assert config.names() == ["ecr-credential-provider", "nodecred-provider"]
    assert config.providers[0].default_cache_duration == 12 * goduration.HOUR
    assert merged.startswith(b'{\n  "apiVersion"')
    assert merged.endswith(b"}\n")


def test_second_merge_changes_no_byte() -> None:
    once = merge(EKS_CONFIG, [OURS])
    assert merge(once, [OURS]) is once


def test_remove_after_upsert_gives_back_the_same_providers() -> None:
    merged = merge(EKS_CONFIG, [OURS])
    assert decode(merge(merged, remove={"nodecred-provider"})) == decode(EKS_CONFIG)


def test_upsert_replaces_in_place_keeping_order() -> None:
    first = render(CredentialProviderConfig((OURS, CredentialProvider("other", ("o.io",), 0, V1))))
    changed = CredentialProvider("nodecred-provider", ("*",), 0, V1)
    assert decode(merge(first, [changed])).names() == ["nodecred-provider", "other"]
    assert decode(merge(first, [changed])).providers[0].match_images == ("*",)


def test_yaml_document_marker_is_kept() -> None:
    original = b"---\n" + render(CredentialProviderConfig((CredentialProvider("x", ("x.io",), 0, V1),)))
    assert merge(original, [OURS]).startswith(b"---\n")


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{broken", b'{"providers": 3}'])
def test_unreadable_files_are_refused_not_overwritten(raw: bytes) -> None:
    with pytest.raises(MergeError):
        merge(raw, [OURS])


def test_compact_json_stays_compact() -> None:
    compact = json.dumps(json.loads(EKS_CONFIG), separators=(",", ":")).encode()
    assert b"\n" not in merge(compact, [OURS])


TRICKY = CredentialProvider(
    "provider-ünïcode",
    ("registry.internal:5000", "*.dkr.ecr.*.amazonaws.com", "yes", "on", "0123", "a" * 120),
    12 * goduration.HOUR,
    V1,
    args=("--settings", "/etc/nodecred/provider with space.yaml", "--flag=va:lue", "#not-a-comment", ""),
    env=(
        ExecEnvVar("QUOTED", 'it\'s "quoted"'),
        ExecEnvVar("MULTILINE", "line one\nline two"),
        ExecEnvVar("LONG", "word " * 40),
        ExecEnvVar("NUMBER", "1e3"),
        ExecEnvVar("NULLISH", "null"),
    ),
)


@pytest.mark.parametrize("providers", [(OURS,), (TRICKY,), (OURS, TRICKY)])
def test_yaml_is_byte_for_byte_what_the_pure_python_emitter_writes(
    providers: tuple[CredentialProvider, ...],
) -> None:
    """The render uses libyaml's emitter when PyYAML has it; the bytes on the host must not depend
    on which emitter wrote them (a re-plan would see a change where there is none)."""
    import yaml

    rendered = render(CredentialProviderConfig(providers))
    document = yaml.safe_load(rendered)
    pure = yaml.dump(
        document, Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    assert rendered == pure.encode()
    assert decode(rendered).providers == providers
