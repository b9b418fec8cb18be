"""Ports of TestDockerKeyringForGlob, TestKeyringMiss, TestDockerKeyringLookup, TestIssue3797,
TestIsDefaultRegistryMatch and the Docker Hub keyring tests (keyring_test.go)."""

from __future__ import annotations

import pytest

from nodecred.kubelet.keyring import (
    AuthConfig,
    Keyring,
    is_default_registry_match,
    normalize_auth_key,
)

FOO = AuthConfig("foo", "bar", "foo@bar.baz")

FOR_GLOB = [
    ("https://hello.kubernetes.io", "hello.kubernetes.io"),
    ("https://*.docker.io", "prefix.docker.io"),
    ("https://prefix.*.io", "prefix.docker.io"),
    ("https://prefix.docker.*", "prefix.docker.io"),
    ("https://*.docker.io/path", "prefix.docker.io/path"),
    ("https://prefix.*.io/path", "prefix.docker.io/path/subpath"),
    ("https://prefix.docker.*/path", "prefix.docker.io/path"),
    ("https://*.docker.io:8888", "prefix.docker.io:8888"),
    ("https://prefix.*.io:8888", "prefix.docker.io:8888"),
    ("https://prefix.docker.*:8888", "prefix.docker.io:8888"),
    ("https://*.docker.io/path:1111", "prefix.docker.io/path:1111"),
    ("https://*.docker.io/v1/", "prefix.docker.io/path:1111"),
    ("https://*.docker.io/v2/", "prefix.docker.io/path:1111"),
    ("https://prefix.docker.*/path:1111", "prefix.docker.io/path:1111"),
    ("prefix.docker.io:1111", "prefix.docker.io:1111/path"),
    ("*.docker.io:1111", "prefix.docker.io:1111/path"),
]

MISSES = [
    ("https://hello.kubernetes.io", "world.mesos.org/foo/bar"),
    ("https://*.docker.com", "prefix.docker.io"),
    ("https://suffix.*.io", "prefix.docker.io"),
    ("https://prefix.docker.c*", "prefix.docker.io"),
    ("https://prefix.*.io/path:1111", "prefix.docker.io/path/subpath:1111"),
    ("suffix.*.io", "prefix.docker.io"),
]


@pytest.mark.parametrize(("key", "target"), FOR_GLOB)
def test_keyring_finds_glob_keys(key: str, target: str) -> None:
    ring = Keyring()
    ring.add({key: FOO})
    assert ring.lookup(target + "/foo/bar")[:1] == [FOO]


@pytest.mark.parametrize(("key", "target"), MISSES)
def test_keyring_misses(key: str, target: str) -> None:
    ring = Keyring()
    ring.add({key: FOO})
    assert ring.lookup(target + "/foo/bar") == []


def test_docker_hub_credentials_do_not_leak_to_other_registries() -> None:
    ring = Keyring()
    ring.add({"https://index.docker.io/v1/": FOO})
    assert ring.lookup("world.mesos.org/foo/bar") == []
    assert ring.lookup("google/docker-registry") == [FOO]
    assert ring.lookup("jenkins") == [FOO]
    assert ring.lookup("index.docker.io/google/docker-registry")[:1] == [FOO]


ADA = AuthConfig("ada", "smash", "ada@example.com")
GRACE = AuthConfig("grace", "squash", "grace@example.com")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("bar.example.com", [ADA]),
        ("bar.example.com/pong", [GRACE, ADA]),
        ("bar.example.com/ping", [ADA]),
        ("bar.example.com/pongz", [GRACE, ADA]),
        ("bar.example.com/pong/pang", [GRACE, ADA]),
        ("example.com", []),
        ("foo.example.com", []),
    ],
)
def test_longer_keys_come_first(image: str, expected: list[AuthConfig]) -> None:
    ring = Keyring()
    ring.add({"bar.example.com/pong": GRACE, "bar.example.com": ADA})
    assert ring.lookup(image) == expected


@pytest.mark.parametrize("image", ["quay.io", "quay.io/foo", "quay.io/foo/bar"])
def test_issue_3797_scheme_and_v1_path_match_the_host(image: str) -> None:
    rex = AuthConfig("rex", "tiny arms", "rex@example.com")
    ring = Keyring()
    ring.add({"https://quay.io/v1/": rex})
    assert ring.lookup(image) == [rex]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("foo/bar", True),
        ("docker.io/foo/bar", True),
        ("index.docker.io/foo/bar", True),
        ("foo", True),
        ("", False),
        ("registry.tld/foo/bar", False),
        ("registry:5000/foo/bar", False),
        ("myhostdocker.io/foo/bar", False),
    ],
)
def test_is_default_registry_match(image: str, expected: bool) -> None:
    assert is_default_registry_match(image) is expected


@pytest.mark.parametrize(
    ("key", "normalized"),
    [
        ("https://quay.io/v1/", "quay.io"),
        ("http://r.io:5000/v2/team", "r.io:5000/team"),
        ("registry.io", "registry.io"),
        ("registry.io/%zz", None),
    ],
)
def test_auth_keys_are_normalised_like_add(key: str, normalized: str | None) -> None:
    assert normalize_auth_key(key) == normalized


def test_passwords_never_appear_in_repr() -> None:
    assert "smash" not in repr(ADA)
