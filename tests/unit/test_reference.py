"""Image names normalised as ParseNormalizedNamed(...).Name() (distribution/reference tests)."""

from __future__ import annotations

import pytest

from nodecred.kubelet.reference import ReferenceError, normalize, registry_host


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.25", "docker.io/library/nginx"),
        ("library/nginx@sha256:" + "a" * 64, "docker.io/library/nginx"),
        ("foo/bar", "docker.io/foo/bar"),
        ("index.docker.io/foo/bar:tag", "docker.io/foo/bar"),
        ("docker.io/nginx", "docker.io/library/nginx"),
        ("localhost/foo", "localhost/foo"),
        ("localhost:5000/foo:tag", "localhost:5000/foo"),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:v1",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
        ),
        ("Registry.Example.com/app", "Registry.Example.com/app"),
        ("[::1]:5000/app", "[::1]:5000/app"),
        ("UPPER/app", "UPPER/app"),  # an uppercase first component is a registry host
    ],
)
def test_normalisation(image: str, name: str) -> None:
    assert normalize(image) == name


@pytest.mark.parametrize("image", ["", "foo/Bar", "a" * 64, "r.io/app:bad tag", "r.io//app"])
def test_invalid_references(image: str) -> None:
    with pytest.raises(ReferenceError):
        normalize(image)


def test_registry_host_is_the_first_path_segment() -> None:
    assert registry_host("r.io:5000/a/b") == "r.io:5000"
