"""An OTLP/HTTP collector on 127.0.0.1 that answers every export and keeps nothing: where the service
sends its spans while `make bench INSTRUCTIONS=1` counts what tracing on costs a request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Discard(BaseHTTPRequestHandler):
    """Read the export and answer 200 with an empty ExportTraceServiceResponse (zero bytes of protobuf)."""

    def do_POST(self) -> None:  # http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # http.server's name
        """Quiet: the bench prints its own progress."""


@contextmanager
def discarding_collector() -> Iterator[dict[str, str]]:
    """Run the collector for the block: the environment that switches the service's tracing on and points it here."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    thread = threading.Thread(target=server.serve_forever, name="discarding-collector", daemon=True)
    thread.start()
    try:
        yield {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
