"""A TCP proxy on 127.0.0.1 for the failure tests: it can cut the server's stream after a number of bytes
(a dropped connection mid-transfer), on every connection or only the first ones, and it can terminate TLS
with a test certificate (a PACS behind HTTPS)."""

from __future__ import annotations

import socket
import ssl
import threading
from types import TracebackType


class CuttingProxy:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream``.

    ``cut_after``: close both sides once this many server → client bytes went through on a connection
    (None: never).  ``cut_connections``: cut only the first that many connections (None: all).
    ``tls``: a server-side SSL context; clients then speak TLS to the proxy.
    """

    def __init__(self, upstream: int, *, cut_after: int | None = None, cut_connections: int | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.cut_connections = cut_connections
        self.tls = tls
        self.connections = 0
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(client, number), daemon=True).start()

    def _serve(self, client: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            server = socket.create_connection(("127.0.0.1", self.upstream))
        except (OSError, ssl.SSLError):
            client.close()
            return
        with self._lock:
            self._open += [client, server]
        cut = self.cut_after if self.cut_connections is None or number <= self.cut_connections else None
        threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
        self._pump(server, client, cut)

    def _pump(self, source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[:max(0, limit - sent)])
                    with self._lock:
                        self.cuts += 1
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for end in self._open:
                try:
                    end.close()
                except OSError:
                    pass

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class SilentServer:
    """A TCP port that accepts connections and never answers (a hung PACS)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self._listener.getsockname()[1]

    def close(self) -> None:
        self._listener.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
