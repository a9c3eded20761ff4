"""The lifecycle the suite's fake HTTP servers share: a threaded HTTP/1.1 server on loopback that stops cleanly.

:class:`LoopbackServer` binds ``127.0.0.1`` (a free port unless one is given), serves in a daemon
thread and serves each connection in a tracked daemon thread of its own, so a delayed reply never
holds up another request and keep-alive connections work like the real APIs. Exceptions raised
inside the server are kept in :attr:`LoopbackServer.errors` (a test can assert that it is empty); a
client hanging up early (a timeout, a drop) is not an error. :meth:`LoopbackServer.stop` sets
:attr:`LoopbackServer.stopping` (delayed replies wait on it), shuts down the open keep-alive
connections and joins every server thread, so nothing is left running and no socket is leaked.

A fake provider subclasses it with its request handler (``handler``, whose ``self.server.owner``
is the fake) and a ``name`` for its threads and messages: ``tests/quota/provider_server.py`` (the
quota endpoints) and ``tests/integrations/fake_llm_server.py`` (the chat APIs).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self

__all__ = ["JOIN_TIMEOUT", "LoopbackHTTPServer", "LoopbackServer"]

#: How long :meth:`LoopbackServer.stop` waits for each server thread.
JOIN_TIMEOUT = 5.0


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that tracks its connection threads and sockets for its owner's clean stop."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs of a burst of parallel connections (a 1 s retry)
    block_on_close = False  # :meth:`LoopbackServer.stop` joins the threads itself

    def __init__(self, owner: LoopbackServer, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), owner.handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a tracked daemon thread."""
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"{self.owner.name}-connection", daemon=True)
        with self.owner.lock:
            self.owner.threads.add(thread)
            self.owner.connections.add(request)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.owner.lock:
                self.owner.threads.discard(threading.current_thread())
                self.owner.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep real errors for the test; a client hanging up early (timeouts, drops) is normal."""
        if self.owner.stopping.is_set() or isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        with self.owner.lock:
            self.owner.errors.append(traceback.format_exc())


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 in a daemon thread; subclasses set ``handler`` and ``name``."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    name: ClassVar[str]
    """Names the server's threads (``NAME``, ``NAME-connection``) and its messages."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.url = ""
        self.errors: list[str] = []
        """Tracebacks of exceptions raised inside the server."""
        self.lock = threading.Lock()
        """Guards the server's records; handlers take it too."""
        self.threads: set[threading.Thread] = set()
        self.connections: set[Any] = set()
        self.stopping = threading.Event()
        """Set while :meth:`stop` runs: a delayed reply waits on it and gives up."""
        self._httpd: LoopbackHTTPServer | None = None
        self._loop: threading.Thread | None = None

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self.stopping.clear()
        self._httpd = LoopbackHTTPServer(self, self.port)
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._loop = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=self.name, daemon=True)
        self._loop.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake delayed replies, close open connections, join every thread (idempotent)."""
        httpd, loop = self._httpd, self._loop
        if httpd is None or loop is None:
            return
        self.stopping.set()
        httpd.shutdown()
        loop.join(JOIN_TIMEOUT)
        httpd.server_close()
        with self.lock:
            connections, threads = list(self.connections), list(self.threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        self._httpd = self._loop = None

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._httpd is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
