"""The kubelet's own contracts, pure: no processes, sockets, API clients or cloud SDKs.

Everything here mirrors the kubelet's Go code closely enough that a file nodecred
accepts is a file the kubelet accepts, and vice versa. See
shared/kubelet-contract.md for the sources.
"""
