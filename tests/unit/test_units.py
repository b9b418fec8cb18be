"""systemd's loading rules as nodecred.host.units applies them (systemd.unit(5), systemd.exec(5),
systemd.service(5)); the real-systemd tier checks the same layouts against systemd itself."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodecred.host import units
from nodecred.host.flags import (
    quote_word,
    set_args_file_flags,
    set_env_var_words,
    with_flags,
)


def _host(files: dict[str, str]) -> tuple[units.Service | None, dict[str, str]]:
    def read(path: str) -> bytes | None:
        return files[path].encode() if path in files else None

    def listdir(path: str) -> list[str]:
        prefix = path + "/"
        return sorted({p[len(prefix) :].split("/")[0] for p in files if p.startswith(prefix)})

    service = units.load_service("kubelet.service", read, listdir)
    return service, {"argv": " ".join(units.effective_argv(service, read)) if service else ""}


def test_etc_overrides_lib_and_dropins_apply_in_name_order() -> None:
    service, out = _host(
        {
            "/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/lib/kubelet\n",
            "/etc/systemd/system/kubelet.service": "[Service]\nExecStart=/etc/kubelet $A\n",
            "/lib/systemd/system/kubelet.service.d/20-b.conf": "[Service]\nEnvironment=A=from-lib-20\n",
            "/etc/systemd/system/kubelet.service.d/10-a.conf": "[Service]\nEnvironment=A=from-etc-10\n",
        }
    )
    assert service is not None
    assert service.path == "/etc/systemd/system/kubelet.service"
    assert out["argv"] == "/etc/kubelet from-lib-20"  # 20-b sorts after 10-a, whatever its directory


def test_same_named_dropin_in_etc_masks_the_one_in_lib() -> None:
    _, out = _host(
        {
            "/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/k $A\n",
            "/lib/systemd/system/kubelet.service.d/10-x.conf": "[Service]\nEnvironment=A=lib\n",
            "/etc/systemd/system/kubelet.service.d/10-x.conf": "[Service]\nEnvironment=A=etc\n",
        }
    )
    assert out["argv"] == "/k etc"


def test_environment_files_override_environment_and_later_files_win() -> None:
    _, out = _host(
        {
            "/etc/systemd/system/kubelet.service": (
                "[Service]\nEnvironment=A=unit B=unit\nEnvironmentFile=/etc/one\n"
                "EnvironmentFile=-/etc/missing\nEnvironmentFile=/etc/two\nExecStart=/k $A $B\n"
            ),
            "/etc/one": "A=one\nB=one\n",
            "/etc/two": "# comment\nB=two\n",
        }
    )
    assert out["argv"] == "/k one two"


def test_a_missing_required_environment_file_fails_like_systemd() -> None:
    with pytest.raises(units.UnitError, match="EnvironmentFile=/etc/absent does not exist"):
        _host(
            {"/etc/systemd/system/kubelet.service": "[Service]\nEnvironmentFile=/etc/absent\nExecStart=/k\n"}
        )


def test_dollar_var_splits_and_braces_keep_one_word() -> None:
    env = {"A": "--x=1   --y='two words'", "B": "a b"}
    assert units.expand_exec("/k $A ${B} pre${B}post $$HOME $UNSET", env) == [
        "/k",
        "--x=1",
        "--y=two words",
        "a b",
        "prea bpost",
        "$HOME",
    ]


def test_exec_start_reset_prefixes_quotes_and_continuations() -> None:
    _, out = _host(
        {
            "/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/old\n",
            "/etc/systemd/system/kubelet.service.d/10.conf": (
                '[Service]\nExecStart=\nExecStart=-/usr/bin/kubelet \\\n  # a comment inside\n  "--a=b c" \\\n  --d\n'
            ),
        }
    )
    assert out["argv"] == "/usr/bin/kubelet --a=b c --d"


def test_env_file_quotes_and_continuations() -> None:
    parsed = units.parse_env_file('A="x \\"y\\" z"\nB=\'single $x\'\nexport C=plain\nD=one \\\ntwo\n; note\n')
    assert parsed == {"A": 'x "y" z', "B": "single $x", "C": "plain", "D": "one  two"}


def test_set_env_var_keeps_other_lines_and_round_trips() -> None:
    text = "# user flags\nKUBELET_EXTRA_ARGS=--max-pods=58\nOTHER=1\n"
    words = with_flags(["--max-pods=58", "--node-labels=a=b c"], {"--image-credential-provider-config": "/x"})
    edited = set_env_var_words(text, "KUBELET_EXTRA_ARGS", words)
    assert edited.startswith("# user flags\nKUBELET_EXTRA_ARGS=")
    assert edited.endswith("OTHER=1\n")
    value = units.parse_env_file(edited)["KUBELET_EXTRA_ARGS"]
    assert units.split_words(value) == words
    assert set_env_var_words("", "V", ["a"]) == 'V="a"\n'


def test_args_file_flags_replace_in_place_once() -> None:
    text = "--a=1\n--image-credential-provider-config=/old\n--b=2\n--image-credential-provider-config=/dup\n"
    edited = set_args_file_flags(text, {"--image-credential-provider-config": "/new", "--x": "y"})
    assert edited == "--a=1\n--image-credential-provider-config=/new\n--b=2\n--x=y\n"


@pytest.mark.parametrize("word", ["plain", "a b", 'q"uote', "back\\slash", "$dollar", ""])
def test_quote_word_round_trips(word: str) -> None:
    assert units.split_words(quote_word(word)) == [word]


def test_systemctl_cat_output_is_split_into_files() -> None:
    from nodecred.host.service import parse_cat

    text = (
        "# /lib/systemd/system/kubelet.service\n[Unit]\nDescription=kubelet\n\n[Service]\nExecStart=/usr/bin/kubelet\n\n"
        "# /run/systemd/system/kubelet.service.d/10-kubeadm.conf\n# Note: This dropin only works with kubeadm\n"
        "# /not/a/header because no blank line precedes it\n[Service]\nEnvironment=A=1\n"
    )
    files = parse_cat(text)
    assert list(files) == [
        "/lib/systemd/system/kubelet.service",
        "/run/systemd/system/kubelet.service.d/10-kubeadm.conf",
    ]
    assert files["/lib/systemd/system/kubelet.service"].endswith(b"ExecStart=/usr/bin/kubelet\n")
    assert b"# /not/a/header" in files["/run/systemd/system/kubelet.service.d/10-kubeadm.conf"]


@given(
    st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\xa0$={}-_/.:aZ9é")), max_size=40), st.booleans()
)
def test_unquoted_lines_split_as_the_full_walk_splits_them(text: str, unquote: bool) -> None:
    """The fast path for lines with no quote or backslash gives what the character walk gives."""
    assert units.split_words(text, unquote) == units._split_quoted(text, unquote)
