"""The transports of ``mp-policy serve``: stdin/stdout, and a Unix socket with a thread per client.

Both read in bounded chunks (:class:`~policy_engine.serve.framing.LineFramer`) and wait in
``poll`` on their input and on a wake-up pipe, so a signal is noticed at once without
interrupting a request:

* SIGTERM and SIGINT finish the request in hand, write its answer, and stop (the caller exits
  0). Requests read but not started yet are dropped.
* stdio: end of input (EOF) stops after answering every complete line read, and a last line
  without a newline. While serving, ``sys.stdout`` points at stderr, so nothing but answers can
  reach the protocol stream.
* socket: :func:`bind_socket` creates the socket file with mode 0600 (``umask`` 0177 around
  ``bind``, before any other thread runs), replaces a stale file (``connect`` refused) and
  refuses a live one or a path that is not a socket (:class:`SocketInUse`). Each client gets a
  thread (at most :data:`MAX_CLIENTS`; one more is told ``busy`` and closed). A client that does
  not read its answers for :data:`SEND_TIMEOUT` seconds is disconnected. On stop the socket file
  is removed (when it is still ours), each client's request in hand is answered, and
  connections are closed. A client that disconnects mid-request costs only its connection.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from policy_engine.serve.framing import READ_CHUNK, LineFramer
from policy_engine.serve.protocol import ProtocolError, encode, error_answer
from policy_engine.serve.server import Connection, Server

__all__ = ["MAX_CLIENTS", "SEND_TIMEOUT", "SocketInUse", "bind_socket", "serve_socket", "serve_stdio"]

MAX_CLIENTS = 128
SEND_TIMEOUT = 10.0
_JOIN_TIMEOUT = 30.0  # seconds to wait, on stop, for clients to finish their request in hand


class SocketInUse(Exception):
    """The socket path cannot be served: another server listens there, or it is not a socket (exit 2)."""


class _Signals:
    """SIGTERM/SIGINT set ``fired`` and make ``fd`` readable (the main thread only; restored on exit)."""

    def __init__(self) -> None:
        self.fired = threading.Event()
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)
        self._previous: dict[int, object] = {}
        self._wakeup = -1
        self.active = threading.current_thread() is threading.main_thread()

    @property
    def fd(self) -> int:
        """Readable once a signal arrived."""
        return self._r

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.fired.set()

    def __enter__(self) -> _Signals:
        if self.active:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handler)
            self._wakeup = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.set_wakeup_fd(self._wakeup)
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)  # type: ignore[arg-type]
        os.close(self._r)
        os.close(self._w)


def _write_all(fd: int, data: bytes) -> None:
    """Write everything to ``fd`` (also when it is non-blocking); OSError when the reader is gone."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            with selectors.PollSelector() as sel:
                sel.register(fd, selectors.EVENT_WRITE)
                sel.select(SEND_TIMEOUT)
            continue
        view = view[written:]


def serve_stdio(server: Server, infd: int = 0, outfd: int = 1) -> None:
    """Serve requests from ``infd`` with answers on ``outfd`` until EOF, a signal or ``shutdown``."""
    conn = Connection("stdio")
    framer = LineFramer()
    saved_stdout = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol stream
    try:
        with _Signals() as signals, selectors.PollSelector() as sel:
            sel.register(infd, selectors.EVENT_READ)
            sel.register(signals.fd, selectors.EVENT_READ)
            while not (signals.fired.is_set() or server.stopping.is_set()):
                ready = {key.fd for key, _ in sel.select()}
                if infd not in ready:
                    continue  # a signal (checked at the top)
                try:
                    chunk = os.read(infd, READ_CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                for line in framer.feed(chunk) if chunk else framer.finish():
                    answer = server.handle_line(line, conn)
                    if answer is not None:
                        try:
                            _write_all(outfd, answer)
                        except OSError:
                            return  # nobody reads our answers any more
                    if signals.fired.is_set() or server.stopping.is_set():
                        return
                if not chunk:
                    return
    finally:
        sys.stdout = saved_stdout


def bind_socket(path: Path) -> tuple[socket.socket, int]:
    """A listening Unix socket at ``path`` (mode 0600) and its inode; :class:`SocketInUse` when it cannot be.

    A stale socket file (nobody accepts on it) is replaced; a live one, or a file that is not a
    socket, is refused.
    """
    text = os.fspath(path)
    try:
        info = os.lstat(text)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise SocketInUse(f"{text}: cannot check the socket path ({exc.strerror})") from None
    if info is not None:
        if not stat.S_ISSOCK(info.st_mode):
            raise SocketInUse(f"{text} exists and is not a socket; not replacing it (remove it, or choose another "
                              "path)")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(2.0)
        try:
            probe.connect(text)
        except ConnectionRefusedError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(text)  # stale: its server is gone
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SocketInUse(f"{text}: cannot tell whether a server listens there ({exc.strerror or exc}); "
                              "not replacing it") from None
        else:
            raise SocketInUse(f"another server is listening on {text}; stop it first, or choose another path")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # the socket file is created 0600
    try:
        sock.bind(text)
    except OSError as exc:
        sock.close()
        reason = "another server took it meanwhile" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise SocketInUse(f"cannot create the socket {text}: {reason}") from None
    finally:
        os.umask(previous)
    os.chmod(text, 0o600)
    sock.listen(64)
    return sock, os.stat(text).st_ino


def serve_socket(server: Server, listener: socket.socket, path: Path, inode: int) -> None:
    """Accept clients on ``listener`` until a signal or ``shutdown``; removes the socket file (if still ours)."""
    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_w, False)
    clients: set[threading.Thread] = set()
    lock = threading.Lock()

    def stop() -> None:
        server.stopping.set()
        with contextlib.suppress(OSError):
            os.write(stop_w, b"x")  # never read: every client's poll sees it readable from now on

    def run(sock: socket.socket) -> None:
        try:
            _serve_client(server, sock, stop_r)
        finally:
            if server.stopping.is_set():
                stop()
            with lock:
                clients.discard(threading.current_thread())

    try:
        with _Signals() as signals, selectors.PollSelector() as sel:
            listener.setblocking(False)
            sel.register(listener, selectors.EVENT_READ)
            sel.register(signals.fd, selectors.EVENT_READ)
            sel.register(stop_r, selectors.EVENT_READ)
            while not (signals.fired.is_set() or server.stopping.is_set()):
                ready = {key.fd for key, _ in sel.select()}
                if listener.fileno() not in ready:
                    continue
                try:
                    sock, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    continue  # e.g. too many open files: try again on the next wake-up
                with lock:
                    full = len(clients) >= MAX_CLIENTS
                if full:
                    _refuse(sock)
                    continue
                thread = threading.Thread(target=run, args=(sock,), name="mp-policy-serve-client", daemon=True)
                with lock:
                    clients.add(thread)
                thread.start()
            stop()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        with lock:
            waiting = list(clients)
        for thread in waiting:
            thread.join(_JOIN_TIMEOUT)
        os.close(stop_w)
        os.close(stop_r)


def _refuse(sock: socket.socket) -> None:
    error = ProtocolError("busy", f"this server already serves {MAX_CLIENTS} clients",
                          "close idle connections, or start another server on another socket")
    with contextlib.suppress(OSError):
        sock.settimeout(1.0)
        sock.sendall(encode(error_answer(None, error, [])))
    sock.close()


def _serve_client(server: Server, sock: socket.socket, stop_fd: int) -> None:
    """One client: read lines, answer them in order, until it closes, a stop, or a send fails."""
    conn = Connection("socket")
    framer = LineFramer()
    sock.settimeout(SEND_TIMEOUT)  # recv only runs when poll says readable; this bounds sendall
    try:
        with selectors.PollSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            sel.register(stop_fd, selectors.EVENT_READ)
            while not server.stopping.is_set():
                ready = {key.fd for key, _ in sel.select()}
                if stop_fd in ready or server.stopping.is_set():
                    return
                try:
                    chunk = sock.recv(READ_CHUNK)
                except (BlockingIOError, InterruptedError, TimeoutError):
                    continue
                except OSError:
                    chunk = b""  # reset by the client: what it sent so far is still answered (to nobody)
                for answer in _answers(server, framer, chunk, conn):
                    try:
                        sock.sendall(answer)
                    except OSError:
                        return  # the client is gone (or does not read): its connection ends
                    if server.stopping.is_set():
                        return
                if not chunk:
                    return
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _answers(server: Server, framer: LineFramer, chunk: bytes, conn: Connection) -> Iterator[bytes]:
    """Answer the lines ``chunk`` completes (all that remain at EOF), one at a time, stopping when asked to."""
    for line in framer.feed(chunk) if chunk else framer.finish():
        if server.stopping.is_set():
            return
        answer = server.handle_line(line, conn)
        if answer is not None:
            yield answer
