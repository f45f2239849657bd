"""A small threaded HTTP(S) server that the emulators build on."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


class Request:
    """One parsed request, handed to an emulator's ``handle``."""

    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = urlsplit(handler.path)
        self.method = handler.command
        self.raw_path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = handler.headers
        self.body = body
        self.full_path = handler.path

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


class Response:
    def __init__(
        self,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.status = status
        self.headers = dict(headers or {})
        if raw is not None:
            self.payload = raw
        else:
            self.payload = b"" if body is None else json.dumps(body).encode()
        self.headers.setdefault("Content-Type", content_type)


class EmulatorServer:
    """Runs ``handle(request) -> Response`` on 127.0.0.1 in a background thread.

    Pass an ``ssl.SSLContext`` for https (msal refuses plain http authorities).
    Use as a context manager, or call ``start`` and ``stop``.
    """

    def __init__(
        self,
        handle: Callable[[Request], Response],
        *,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._handle = handle
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes on a keep-alive connection: with
            # Nagle's algorithm on, the body waits for the client's delayed ACK (~40 ms).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    response = outer._handle(Request(self, body))
                except Exception as exc:  # an emulator bug must show, not hang the client
                    response = Response(500, {"message": f"emulator error: {exc!r}"})
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if ssl_context else "http"
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        # A short poll interval lets stop() return at once instead of after 0.5 s.
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TlsEmulator:
    """What every TLS emulator of an identity provider shares: its server's lifecycle and
    the environment that makes clients trust its throwaway CA."""

    server: EmulatorServer
    ca_file: str

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables that make requests, msal, okta and aiohttp trust the CA."""
        return {"REQUESTS_CA_BUNDLE": self.ca_file, "SSL_CERT_FILE": self.ca_file}


def tls_context_for(
    hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
) -> tuple[ssl.SSLContext, str]:
    """A server TLS context from a throwaway ``trustme`` CA; returns it and the CA's PEM path.

    Clients trust the CA through ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` pointing at the
    returned file, exactly as they would trust a corporate CA.
    """
    import tempfile

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*hostnames)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    with tempfile.NamedTemporaryFile(prefix="cus-ca-", suffix=".pem", delete=False) as handle:
        handle.write(ca.cert_pem.bytes())
    return context, handle.name
