"""``mp-policy serve``: answer agents' select/fail/succeed over stdin/stdout or a Unix socket (DESIGN §5.1)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from policy_engine.cli.common import EXIT_USAGE, common_options, load_engine

__all__ = ["parse_idle_exit", "serve_command"]


@click.command("serve")
@click.option("--stdio", is_flag=True, help="Serve the process that started this one, on stdin/stdout.")
@click.option("--socket", "socket_path", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
              help="Serve every process of this user on a Unix socket (created with mode 0600).")
@click.option("--idle-exit", "idle_exit", metavar="DURATION",
              help="With --socket: stop (removing the socket) once no client has been connected for DURATION "
                   "(30m, 90s, 1h30m). A connected client keeps the server running however quiet it is.")
@click.option("--quota-refresh/--no-quota-refresh", "quota_refresh", default=None,
              help="Refresh stale quota of quota-first pools in the background (default: on, unless "
                   "MP_POLICY_QUOTA_REFRESH=0).")
@click.option("--metrics", "metrics_at", metavar="HOST:PORT",
              help="Expose Prometheus metrics at http://HOST:PORT/metrics (needs prometheus-client: mp-policy's "
                   "extra [metrics]).")
@common_options
def serve_command(stdio: bool, socket_path: Path | None, idle_exit: str | None, quota_refresh: bool | None,
                  metrics_at: str | None, **options: Any) -> None:
    """Answer select, fail, succeed, status and explain requests: one JSON object per line each way.

    A long-running engine makes a decision cost a round trip instead of an interpreter start.
    Requests carry `cwd` to pick a project overlay, as the other commands do from their working
    directory; --project (else the directory this server starts in) is the default. Policy,
    overlay and auth.json edits are picked up (a broken edit keeps the last good policy and
    warns in every answer). SIGTERM, SIGINT, or the end of stdin (--stdio) stop the server after
    the request in hand is answered; with --idle-exit a socket server also stops once it has had
    no client for that long (the exit code is 0 in each case). The protocol is described in
    docs/serve.md ("The protocol, for other languages").

    \b
    Examples:
      mp-policy serve --stdio
      mp-policy serve --socket ~/.pi/agent/mp-policy.sock
      mp-policy serve --socket ~/.pi/agent/mp-policy.sock --idle-exit 30m
    """
    from policy_engine.serve.engines import EngineCache, SharedStore
    from policy_engine.serve.server import Server
    from policy_engine.serve.transport import SocketInUse, bind_socket, serve_socket, serve_stdio

    if stdio == (socket_path is not None):
        raise click.UsageError("name exactly one of --stdio or --socket PATH")
    idle_seconds = _idle_seconds(idle_exit, stdio)
    listener = None
    inode = 0
    if socket_path is not None:
        socket_path = socket_path.expanduser()
        try:
            listener, inode = bind_socket(socket_path)  # before any other thread exists (umask)
        except SocketInUse as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    metrics = None
    try:
        engine = load_engine(readonly=False, quota_refresh=quota_refresh, **options)
        if metrics_at:
            metrics = _metrics(metrics_at, engine.store)
    except BaseException:
        if listener is not None:
            listener.close()
            with contextlib.suppress(OSError):
                os.unlink(socket_path)  # type: ignore[arg-type]
        raise
    store = engine.store
    shared = SharedStore(store)
    engine.store = shared  # engines never close the server's store; it is closed below
    cache = EngineCache(agent_dir=options["agent_dir"], policy=options["policy"], project=options["project"],
                        store=shared, quota_refresh=quota_refresh)
    sources = engine.sources
    key = str(sources.project_path.resolve()) if sources is not None and sources.project_path else None
    if key == cache.overlay_for(None):
        cache.adopt(key, engine)
    else:  # an overlay appeared or vanished while loading: the cache builds its own
        engine.close()
    server = Server(cache, metrics)
    try:
        if listener is not None:
            assert socket_path is not None
            click.echo(f"mp-policy serve: listening on {socket_path} (pid {os.getpid()})", err=True)
            serve_socket(server, listener, socket_path, inode, idle_seconds)
        else:
            serve_stdio(server)
    finally:
        if metrics is not None:
            metrics.close()
        cache.close()
        store.close()


def _metrics(address: str, store: Any) -> Any:
    """Start the ``--metrics`` endpoint (a usage error for a bad address or a missing library)."""
    from datetime import UTC, datetime

    from policy_engine.trace.metrics import parse_address

    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--metrics") from None
    try:
        from prometheus_client import disable_created_metrics

        from policy_engine.trace.metrics import ServeMetrics

        disable_created_metrics()  # this process only: no *_created series beside every counter
        metrics = ServeMetrics(lambda: (store.snapshot(), datetime.now(UTC)))
    except ImportError:
        click.echo("error: --metrics needs the Python package 'prometheus_client'\n"
                   "    hint: pip install prometheus-client (mp-policy's extra [metrics], docs/install.md)",
                   err=True)
        sys.exit(EXIT_USAGE)
    try:
        bound = metrics.start((host, port))
    except OSError as exc:
        click.echo(f"error: cannot serve metrics on {address}: {exc.strerror or exc}\n"
                   "    hint: choose a free port, e.g. --metrics 127.0.0.1:9464", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"mp-policy serve: metrics on http://{bound[0]}:{bound[1]}/metrics", err=True)
    return metrics


def _idle_seconds(value: str | None, stdio: bool) -> float | None:
    """``--idle-exit`` in seconds (None without it); a usage error with --stdio or for what is not a duration."""
    if value is None:
        return None
    if stdio:
        raise click.UsageError("--idle-exit applies to a socket server (--socket PATH); a --stdio server stops "
                               "when its input closes")
    return parse_idle_exit(value)


def parse_idle_exit(value: str) -> float:
    """An ``--idle-exit`` value in seconds: a duration longer than 0 (``30m``, ``90s``), else a usage error."""
    from policy_engine.common.durations import DurationError, parse_duration

    try:
        seconds = parse_duration(value).total_seconds()
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--idle-exit") from None
    if seconds <= 0:
        raise click.BadParameter(f"must be longer than 0, got {value!r}", param_hint="--idle-exit")
    return seconds
