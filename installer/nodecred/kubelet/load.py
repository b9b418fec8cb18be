"""readCredentialProviderConfig: a file or (kubelet >= 1.34) a directory, plus the config hash.

`load_files` is pure (names and bytes in); `read_path` is the thin reader that
gathers them from disk with the kubelet's messages.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from dataclasses import dataclass

from nodecred.kubelet.decode import DecodeError, decode
from nodecred.kubelet.documents import MAX_DOCUMENT_BYTES
from nodecred.kubelet.model import CredentialProviderConfig
from nodecred.kubelet.validate import validate
from nodecred.kubelet.versions import KubeletVersion

CONFIG_EXTENSIONS = (".json", ".yaml", ".yml")


class LoadError(ValueError):
    """The kubelet would exit(1) on this config; the message is the kubelet's."""


@dataclass(frozen=True)
class LoadedConfig:
    config: CredentialProviderConfig
    hash: str  # "sha256:<hex>", the kubelet_credential_provider_config_info label
    files: tuple[str, ...]


def config_hash(contents: list[bytes]) -> str:
    """sha256 over each file as uint64 big-endian length then bytes (config.go)."""
    hasher = hashlib.sha256()
    for data in contents:
        hasher.update(struct.pack(">Q", len(data)))
        hasher.update(data)
    return "sha256:" + hasher.hexdigest()


def load_files(files: list[tuple[str, bytes]], version: KubeletVersion | None = None) -> LoadedConfig:
    """Decode and merge FILES (already in the kubelet's order); raise LoadError like the kubelet."""
    version = version or KubeletVersion.newest()
    providers = []
    seen: set[str] = set()
    for path, data in files:
        try:
            config = decode(data, version)
        except DecodeError as err:
            raise LoadError(f'error decoding config "{path}": {err}') from None
        for provider in config.providers:
            if provider.name in seen:
                raise LoadError(f'duplicate provider name "{provider.name}" found in configuration file(s)')
            seen.add(provider.name)
            providers.append(provider)
    merged = CredentialProviderConfig(providers=tuple(providers))
    return LoadedConfig(merged, config_hash([d for _, d in files]), tuple(p for p, _ in files))


def check(
    loaded: LoadedConfig,
    version: KubeletVersion | None = None,
    gates: dict[str, bool] | None = None,
) -> None:
    """The validation step of RegisterCredentialProviderPlugins."""
    message = validate(loaded.config, version, gates)
    if message:
        raise LoadError(f"failed to validate credential provider config: {message}")


def _os_error(err: OSError) -> str:
    return f"{err.filename}: {os.strerror(err.errno or 0).lower()}" if err.errno else str(err)


def config_files_in(directory: str) -> list[str]:
    """The files the kubelet reads from a config directory, in its order."""
    names = []
    for entry in os.scandir(directory):
        if entry.name.endswith(CONFIG_EXTENSIONS) and not entry.is_dir():
            names.append(os.path.join(directory, entry.name))
    return sorted(names)


def read_path(path: str, version: KubeletVersion | None = None) -> LoadedConfig:
    """Read PATH as the kubelet of VERSION reads --image-credential-provider-config."""
    version = version or KubeletVersion.newest()
    if not path:
        raise LoadError("credential provider config path is empty")
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise LoadError(f'unable to access path "{path}": {_os_error(err)}') from None
    if stat.S_ISDIR(mode):
        if not version.reads_directories:
            raise LoadError(
                f'unable to read external registry credential provider configuration from "{path}": '
                f"read {path}: is a directory (kubelet {version} reads a single file; directories need 1.34+)"
            )
        try:
            names = config_files_in(path)
        except OSError as err:
            raise LoadError(f'unable to read directory "{path}": {_os_error(err)}') from None
        if not names:
            raise LoadError(f'no configuration files found in directory "{path}"')
    else:
        names = [path]
    files = []
    for name in names:
        try:
            with open(name, "rb") as handle:
                # One byte past the limit is enough for decode to refuse it.
                files.append((name, handle.read(MAX_DOCUMENT_BYTES + 1)))
        except OSError as err:
            raise LoadError(f'unable to read file "{name}": {_os_error(err)}') from None
    return load_files(files, version)
