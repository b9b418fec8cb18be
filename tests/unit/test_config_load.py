"""Port of Test_readCredentialProviderConfig (config_test.go, newest): decoding, merging, hashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodecred.kubelet import goduration
from nodecred.kubelet.load import LoadError, read_path
from nodecred.kubelet.versions import KubeletVersion
from tests.unit import upstream_configs as up

M = goduration.MINUTE
TEXT = "This is a text file with unsupported extension"

# (name, files or None for a single file, expected providers [(name, images, duration, apiVersion)], hash)
VALID_FILE_CASES = [
    (
        "one plugin",
        up.ONE_PLUGIN,
        [("test", ("registry.io/foobar",), 10 * M, "v1alpha1")],
        "sha256:8a62755289ba50c4ca9495baab69eb861068503f8bd49b853e8ba6cf95c72bb8",
    ),
    (
        "one plugin JSON",
        up.ONE_PLUGIN_JSON,
        [("test", ("registry.io/foobar",), 10 * M, "v1alpha1")],
        "sha256:fd0946c206cc5b8735cd57816f21e139cfe480f27119f1d1f80e7c2fd9dc4636",
    ),
    (
        "wildcard",
        up.WILDCARD,
        [("test", ("registry.io/*",), 10 * M, "v1alpha1")],
        "sha256:5272b0ed7da9c85912217bb9e5293549d7a03cdd510cb73df8d06bd8db363921",
    ),
    (
        "multiple matchers",
        up.MULTI_MATCH,
        [("test", ("registry.io/*", "foobar.registry.io/*"), 10 * M, "v1alpha1")],
        "sha256:e167993fa14ef8a799aebe1ebca7177478f93b8ada2b61286479641a4266d75e",
    ),
    (
        "multiple providers v1alpha1",
        up.multi_providers("v1alpha1"),
        [
            ("test1", ("registry.io/one",), 10 * M, "v1alpha1"),
            ("test2", ("registry.io/two",), 10 * M, "v1alpha1"),
        ],
        "sha256:04d747035e475d4fed4f2e2ec061941d401172e4447e2262a6269f22a670418b",
    ),
    (
        "multiple providers v1beta1",
        up.multi_providers("v1beta1"),
        [
            ("test1", ("registry.io/one",), 10 * M, "v1beta1"),
            ("test2", ("registry.io/two",), 10 * M, "v1beta1"),
        ],
        "sha256:5d6e9671b548ddcaf4674cfa5e13257bcff06c931a8a4ef13f2577f94ff4cff3",
    ),
    (
        "multiple providers v1",
        up.multi_providers("v1"),
        [
            ("test1", ("registry.io/one",), 10 * M, "v1"),
            ("test2", ("registry.io/two",), 10 * M, "v1"),
        ],
        "sha256:ea93e932f6b7f0ab45cecd6e7141cf5d3a6a037868b59725a60e99a2b702e2a7",
    ),
]

INVALID_FILE_CASES = [
    (
        "wrong kind",
        up.WRONG_KIND,
        'no kind "WrongKind" is registered for version "kubelet.config.k8s.io/v1alpha1"',
    ),
    (
        "wrong apiVersion",
        up.WRONG_APIVERSION,
        'no kind "CredentialProviderConfig" is registered for version "foobar/v1alpha1',
    ),
    ("unknown field", up.TYPO, 'strict decoding error: unknown field "providers[0].unknownField"'),
    (
        "tokenAttributes in v1alpha1",
        up.token_attributes_in("v1alpha1"),
        'strict decoding error: unknown field "providers[0].tokenAttributes"',
    ),
    (
        "tokenAttributes in v1beta1",
        up.token_attributes_in("v1beta1"),
        'strict decoding error: unknown field "providers[0].tokenAttributes"',
    ),
]

VALID_DIR_CASES = [
    (
        "lexicographic order",
        {
            "config-000.yaml": up.v1_single("test1", "registry.io/one", "10m"),
            "config-001.yaml": up.v1_single("test2", "registry.io/two", "5m"),
        },
        [
            ("test1", ("registry.io/one",), 10 * M, "v1"),
            ("test2", ("registry.io/two",), 5 * M, "v1"),
        ],
        "sha256:efef09979a19eee4802fe4b7aa46d5122f16687a8419443647182c1920f76ac9",
    ),
    (
        "mixed API versions",
        {
            "config-000.yaml": up.BETA_SINGLE,
            "config-001.yaml": up.v1_single("test-v1", "v1.registry.io/*", "20m"),
            "config-002.yaml": up.json_single("test-v2", "v2.registry.io/*", "20m"),
        },
        [
            ("test-beta", ("beta.registry.io/*",), 15 * M, "v1beta1"),
            ("test-v1", ("v1.registry.io/*",), 20 * M, "v1"),
            ("test-v2", ("v2.registry.io/*",), 20 * M, "v1"),
        ],
        "sha256:292a674763a5b34f4e51bd0d4c5736375f31a04cb1bed519ca3fcd033ce3e20e",
    ),
    (
        "supported and unsupported extensions",
        {
            "config-001.yaml": up.v1_single("test1", "registry.io/one", "10m"),
            "config-002.txt": TEXT + " that should be skipped",
            "config-003.json": up.json_single("test2", "registry.io/two", "5m"),
        },
        [
            ("test1", ("registry.io/one",), 10 * M, "v1"),
            ("test2", ("registry.io/two",), 5 * M, "v1"),
        ],
        "sha256:70b4a5afe55ad1045c14f427e33ef10d1bbd82fb0c5b6c944e2c9f8ad2b5d180",
    ),
]

INVALID_DIR_CASES = [
    ("empty directory", {}, "no configuration files found in directory"),
    (
        "only unsupported extensions",
        {"config.txt": TEXT, "config.md": "This is another text file with unsupported extension"},
        "no configuration files found in directory",
    ),
    (
        "duplicate provider names",
        {
            "config-000.yaml": up.v1_single("duplicate", "registry.io/one", "10m"),
            "config-001.yaml": up.v1_single("duplicate", "registry.io/two", "5m"),
        },
        'duplicate provider name "duplicate" found in configuration file(s)',
    ),
    (
        "one invalid file",
        {
            "config-000.yaml": up.v1_single("test1", "registry.io/one", "10m"),
            "config-001.yaml": up.v1_single("test2", "registry.io/two", "5m", kind="WrongKind"),
        },
        'no kind "WrongKind" is registered for version "kubelet.config.k8s.io/v1"',
    ),
]


def _summary(loaded_providers: object) -> list[tuple[str, tuple[str, ...], int | None, str]]:
    return [
        (p.name, p.match_images, p.default_cache_duration, p.api_version.rsplit("/", 1)[1])
        for p in loaded_providers  # type: ignore[attr-defined]
    ]


def _write_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "config-dir"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.mark.parametrize(
    ("name", "text", "providers", "digest"), VALID_FILE_CASES, ids=[c[0] for c in VALID_FILE_CASES]
)
def test_valid_file_decodes_with_upstream_hash(
    tmp_path: Path, name: str, text: str, providers: list, digest: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    loaded = read_path(str(path))
    assert _summary(loaded.config.providers) == providers
    assert loaded.hash == digest


def test_one_plugin_keeps_args_and_env(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(up.ONE_PLUGIN)
    provider = read_path(str(path)).config.providers[0]
    assert provider.args == ("--v=5",)
    assert [(e.name, e.value) for e in provider.env] == [("FOO", "BAR")]


@pytest.mark.parametrize(
    ("name", "text", "message"), INVALID_FILE_CASES, ids=[c[0] for c in INVALID_FILE_CASES]
)
def test_invalid_file_fails_like_the_kubelet(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(LoadError) as err:
        read_path(str(path))
    assert message in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("name", "files", "providers", "digest"), VALID_DIR_CASES, ids=[c[0] for c in VALID_DIR_CASES]
)
def test_directory_merges_in_lexicographic_order(
    tmp_path: Path, name: str, files: dict, providers: list, digest: str
) -> None:
    loaded = read_path(str(_write_dir(tmp_path, files)))
    assert _summary(loaded.config.providers) == providers
    assert loaded.hash == digest


@pytest.mark.parametrize(
    ("name", "files", "message"), INVALID_DIR_CASES, ids=[c[0] for c in INVALID_DIR_CASES]
)
def test_invalid_directory_fails_like_the_kubelet(
    tmp_path: Path, name: str, files: dict, message: str
) -> None:
    with pytest.raises(LoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_path(str(_write_dir(tmp_path, files)))


def test_directory_is_refused_before_kubelet_1_34(tmp_path: Path) -> None:
    directory = _write_dir(tmp_path, {"a.yaml": up.v1_single("a", "r.io", "1m")})
    with pytest.raises(LoadError, match="is a directory"):
        read_path(str(directory), KubeletVersion.parse("1.33"))


def test_subdirectories_are_not_read(tmp_path: Path) -> None:
    directory = _write_dir(tmp_path, {"a.yaml": up.v1_single("a", "r.io", "1m")})
    (directory / "nested.yaml").mkdir()
    (directory / "nested.yaml" / "b.yaml").write_text(up.v1_single("b", "r.io", "1m"))
    assert read_path(str(directory)).config.names() == ["a"]


def test_empty_path_is_the_kubelets_error() -> None:
    with pytest.raises(LoadError, match="credential provider config path is empty"):
        read_path("")


def test_missing_path_is_unable_to_access(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="unable to access path"):
        read_path(str(tmp_path / "nope.yaml"))


def test_unknown_fields_pass_before_strict_decoding(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        up.TYPO.replace("credentialprovider.kubelet.k8s.io/v1alpha1", "credentialprovider.kubelet.k8s.io/v1")
    )
    assert read_path(str(path), KubeletVersion.parse("1.31")).config.names() == ["test"]
    with pytest.raises(LoadError, match="strict decoding error"):
        read_path(str(path), KubeletVersion.parse("1.32"))


def test_v1_config_is_unknown_to_kubelet_1_25(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(up.multi_providers("v1"))
    with pytest.raises(
        LoadError,
        match=re.escape(
            'no kind "CredentialProviderConfig" is registered for version "kubelet.config.k8s.io/v1"'
        ),
    ):
        read_path(str(path), KubeletVersion.parse("1.25"))
