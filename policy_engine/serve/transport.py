"""The transports of ``mp-policy serve``: stdin/stdout, and a Unix socket with a thread per client.

Both read in bounded chunks (:class:`~policy_engine.common.line_framing.LineFramer`) and wait in
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
* socket, ``idle_exit``: the server stops by itself once no client has been connected for that
  long (counted from its start or from the last client's disconnect; a connected client keeps it
  alive however quiet it is). The accept loop waits in ``select`` with the time left as its
  timeout, and each disconnect wakes it through a pipe, so nothing polls. On the way out the
  socket file goes first, then connections that reached the backlog meanwhile are still served
  (new ones find no socket and start another server); the server stops when they are gone.
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
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import FrameType

from policy_engine.common.durations import format_duration
from policy_engine.common.line_framing import READ_CHUNK, LineFramer
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

            def stopped() -> bool:
                return signals.fired.is_set() or server.stopping.is_set()

            while not stopped():
                ready = {key.fd for key, _ in sel.select()}
                if infd not in ready:
                    continue  # a signal (checked at the top)
                try:
                    chunk = os.read(infd, READ_CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                for answer in _answers(server, framer, chunk, conn, stopped):
                    try:
                        _write_all(outfd, answer)
                    except OSError:
                        return  # nobody reads our answers any more
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


def serve_socket(server: Server, listener: socket.socket, path: Path, inode: int,
                 idle_exit: float | None = None) -> None:
    """Accept clients on ``listener`` until a signal, ``shutdown`` or ``idle_exit`` seconds without a client;
    removes the socket file (if still ours)."""
    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_w, False)
    wake_r, wake_w = os.pipe()  # a client left: the accept loop recomputes its idle deadline
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    clients: set[threading.Thread] = set()
    lock = threading.Lock()
    idle_since = time.monotonic()
    retiring = False  # the idle time ran out: the socket file is gone, the last clients are served
    closed = False  # the pipes are closed (a client that outlived the join must not write to them)

    def stop() -> None:
        server.stopping.set()
        with contextlib.suppress(OSError):
            os.write(stop_w, b"x")  # never read: every client's poll sees it readable from now on

    def run(sock: socket.socket) -> None:
        nonlocal idle_since
        try:
            _serve_client(server, sock, stop_r)
        finally:
            if server.stopping.is_set():
                stop()
            with lock:
                clients.discard(threading.current_thread())
                idle_since = time.monotonic()
                if not closed:
                    with contextlib.suppress(OSError):
                        os.write(wake_w, b"x")

    def accept(sock: socket.socket) -> None:
        with lock:
            full = len(clients) >= MAX_CLIENTS
        if full:
            _refuse(sock)
            return
        thread = threading.Thread(target=run, args=(sock,), name="mp-policy-serve-client", daemon=True)
        with lock:
            clients.add(thread)
        thread.start()

    def idle_timeout() -> float | None:
        """Seconds until the idle deadline (0 when it passed); None while a client is connected or without one."""
        with lock:
            if clients:
                return None
            if retiring:
                return 0.0
            if idle_exit is None:
                return None
            return max(0.0, idle_since + idle_exit - time.monotonic())

    try:
        with _Signals() as signals, selectors.PollSelector() as sel:
            listener.setblocking(False)
            sel.register(listener, selectors.EVENT_READ)
            sel.register(signals.fd, selectors.EVENT_READ)
            sel.register(stop_r, selectors.EVENT_READ)
            sel.register(wake_r, selectors.EVENT_READ)
            while not (signals.fired.is_set() or server.stopping.is_set()):
                timeout = idle_timeout()
                if timeout == 0.0:
                    if retiring:
                        break  # the clients of the backlog are gone too
                    retiring = True
                    _remove_socket_file(path, inode)  # from now on a new client starts another server
                    _say_idle(idle_exit)
                    _accept_backlog(listener, accept)
                    continue
                ready = {key.fd for key, _ in sel.select(timeout)}
                if wake_r in ready:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 4096)
                if listener.fileno() not in ready:
                    continue
                try:
                    sock, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    continue  # e.g. too many open files: try again on the next wake-up
                with lock:
                    idle_since = time.monotonic()
                accept(sock)
            stop()
    finally:
        listener.close()
        _remove_socket_file(path, inode)
        with lock:
            waiting = list(clients)
        for thread in waiting:
            thread.join(_JOIN_TIMEOUT)
        with lock:
            closed = True
            for fd in (wake_w, wake_r):
                os.close(fd)
        os.close(stop_w)
        os.close(stop_r)


def _remove_socket_file(path: Path, inode: int) -> None:
    """Remove the socket file when it is still the one this server created (not a successor's)."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == inode:
            os.unlink(path)


def _accept_backlog(listener: socket.socket, accept: Callable[[socket.socket], None]) -> None:
    """Hand every connection already waiting on the (non-blocking) listener to ``accept``."""
    while True:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        accept(sock)


def _say_idle(idle_exit: float | None) -> None:
    waited = format_duration(timedelta(seconds=idle_exit or 0.0))
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"mp-policy serve: no client for {waited}; stopping (pid {os.getpid()})\n")
        sys.stderr.flush()


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
                for answer in _answers(server, framer, chunk, conn, server.stopping.is_set):
                    try:
                        sock.sendall(answer)
                    except OSError:
                        return  # the client is gone (or does not read): its connection ends
                if not chunk:
                    return
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _answers(server: Server, framer: LineFramer, chunk: bytes, conn: Connection,
             stopped: Callable[[], bool]) -> Iterator[bytes]:
    """Answer the lines ``chunk`` completes (all that remain at EOF), one at a time; none once ``stopped()``."""
    for line in framer.feed(chunk) if chunk else framer.finish():
        if stopped():
            return
        answer = server.handle_line(line, conn)
        if answer is not None:
            yield answer
