"""The exec plugin the kubelet runs per cache miss; frozen into one binary for the host.

Start-up cost matters (the kubelet waits on it): cloud SDKs are imported only
by the backend that needs them.
"""
