"""Ports of TestURLsMatch (keyring_test.go), plugin_test.go match cases, and Go's filepath.Match table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodecred.kubelet.gourl import BadPattern, filepath_match
from nodecred.kubelet.match import explain, provider_matches, urls_match

URLS_MATCH = [  # (pattern, image, match) -- kubelet-contract.md §2.2, S5 and S7
    ("*.kubernetes.io", "prefix.kubernetes.io", True),
    ("prefix.*.io", "prefix.kubernetes.io", True),
    ("prefix.kubernetes.*", "prefix.kubernetes.io", True),
    ("*-good.kubernetes.io", "prefix-good.kubernetes.io", True),
    ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", True),
    ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", True),
    ("*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", True),
    ("prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", True),
    ("*.kubernetes.io", "kubernetes.io", False),
    ("*.*.kubernetes.io", "prefix.kubernetes.io", False),
    ("*.*.kubernetes.io", "kubernetes.io", False),
    ("*kubernetes.io", "a.kubernetes.io", False),
    ("*kubernetes.io", "kubernetes.io", True),
    ("*.*.*.kubernetes.io", "a.b.c.kubernetes.io", True),
    ("kubernetes.io", "kubernetes.com", False),
    ("k*.io", "quay.io", False),
    ("*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", False),
    ("prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", False),
    ("test.registry.io", "test.registry.io/foo/bar", True),
    ("test.registry.io/foo/bar", "test.registry.io/foo/bar", True),
    ("*.registry.io:8080", "test.registry.io:8080/foo", True),
    ("*.*.registry.io", "foo.bar.registry.io/foo/bar", True),
    ("*.registry.io", "test.registry.io", True),
    ("bar.example.com/pong", "bar.example.com/pongz", True),
    ("bar.example.com/pong", "bar.example.com/ping", False),
    ("bar.example.com", "example.com", False),
    ("bar.example.com", "foo.example.com", False),
    # DERIVED in kubelet-contract.md from the transcribed Go function
    ("registry.io", "registry.io:5000/foo", False),
    ("registry.io/*", "registry.io/foo", False),
    ("Registry.io", "registry.io/foo", False),
    ("registry.io:8080/path", "registry.io:8080/pathology/x", True),
]


@pytest.mark.parametrize(("pattern", "image", "expected"), URLS_MATCH)
def test_urls_match_upstream_vectors(pattern: str, image: str, expected: bool) -> None:
    assert urls_match(pattern, image) is expected


FILEPATH_MATCH = [  # Go's path/filepath match_test.go; None = ErrBadPattern
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a\u263ab", True),
    ("a[^a]b", "a\u263ab", True),
    ("a???b", "a\u263ab", False),
    ("a[^a][^a][^a]b", "a\u263ab", False),
    ("[a-\u03b6]*", "\u03b1", True),
    ("*[a-\u03b6]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[x-]", "-", None),
    ("[x-]", "z", None),
    ("[-x]", "x", None),
    ("[-x]", "-", None),
    ("[-x]", "a", None),
    ("\\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("a[", "ab", None),
    ("a[", "x", None),
    ("a/b[", "x", None),
    ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), FILEPATH_MATCH)
def test_filepath_match_go_table(pattern: str, name: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(BadPattern):
            filepath_match(pattern, name)
    else:
        assert filepath_match(pattern, name) is expected


def test_malformed_glob_is_no_match_with_a_reason() -> None:
    result = explain("x[b-.registry.io", "xb.registry.io")
    assert not result.matched
    assert "malformed" in result.reason


@pytest.mark.parametrize(
    ("pattern", "image", "reason"),
    [
        ("registry.io", "registry.io:5000/foo", "port differs"),
        ("*.registry.io", "registry.io/foo", "label count differs"),
        ("registry.io/team", "registry.io/other", "path prefix"),
        ("k*.io", "quay.io", "glob: label 1"),
    ],
)
def test_explain_names_the_rule_that_failed(pattern: str, image: str, reason: str) -> None:
    assert reason in explain(pattern, image).reason


def test_provider_runs_when_any_pattern_matches() -> None:
    assert provider_matches(["*.gcr.io", "gcr.io"], "gcr.io/project/image")
    assert not provider_matches(["*.gcr.io"], "gcr.io/project/image")


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
_host = st.lists(_label, min_size=1, max_size=5).map(".".join)


@given(_host, st.text(alphabet="abc/", max_size=10))
def test_every_host_matches_itself_and_its_wildcard(host: str, path: str) -> None:
    image = host + ("/" + path if path else "")
    assert urls_match(host, image)
    assert urls_match(".".join("*" for _ in host.split(".")), image)


@given(_host, _host)
def test_label_count_mismatch_never_matches(a: str, b: str) -> None:
    if len(a.split(".")) != len(b.split(".")):
        assert not urls_match(".".join("*" for _ in a.split(".")), b)
