"""/healthz, /readyz and /metrics for the kubelet's probes and Prometheus."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nodecred.agent.metrics import Metrics

# Ready once there is nothing left to do here; Uninstalled too, so uninstall mode does not look broken.
READY = ("Installed", "Unsupported", "Uninstalled")


def serve(metrics: Metrics, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104 - a pod port
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                status, body = 200, b"ok"
            elif self.path == "/readyz":
                ready = metrics.current in READY
                status, body = (
                    (200, b"ok") if ready else (503, f"state {metrics.current or 'Pending'}".encode())
                )
            elif self.path == "/metrics":
                status, body = 200, metrics.render()
            else:
                status, body = 404, b"not found"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
