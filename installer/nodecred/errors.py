"""The error hierarchy. Turned into exit codes and messages in one place (the CLIs)."""

from __future__ import annotations


class NodecredError(Exception):
    """Base of every error nodecred reports to an operator: one clear line."""


class UsageError(NodecredError):
    """Bad command-line input, a missing or unreadable path (exit 2)."""


class ConfigError(NodecredError):
    """A file the kubelet (or nodecred) would refuse; the message names file and field."""
