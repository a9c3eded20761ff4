"""The stores ``bench_state.py`` measures (fresh URLs, its own ``redis-server``) and the machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import cpu_model, load_average
from state_loop import REPO, SERVER_CPU


class Stores:
    """Fresh state URLs per part of the run; owns the temporary directory and the redis-server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.server: Any = None
        self.redis_skip: str | None = None
        self._files = 0

    def start_redis(self) -> None:
        """Start redis-server on a free loopback port (or note why Redis is skipped)."""
        if shutil.which("redis-server") is None:
            self.redis_skip = "redis-server is not installed (Debian: apt-get install redis-server)"
            return
        try:
            import redis  # noqa: F401  (the optional extra)
        except ImportError:
            self.redis_skip = "the Python package 'redis' is not installed (extra mp-policy[redis], docs/install.md)"
            return
        sys.path.insert(0, str(REPO / "tests" / "state"))
        try:
            from redis_server import RedisServer  # tests/state/redis_server.py
        except ImportError as exc:
            self.redis_skip = f"cannot import tests/state/redis_server.py: {exc}"
            return
        finally:
            sys.path.remove(str(REPO / "tests" / "state"))
        try:
            server = RedisServer(self.tmp / "redis", unix_socket=False)
            server.start()
        except Exception as exc:  # the benchmark reports, it never fails
            self.redis_skip = f"cannot start redis-server: {type(exc).__name__}: {exc}"
            return
        self.server = server

    def stop(self) -> None:
        """Stop redis-server (gracefully, else killed)."""
        if self.server is not None:
            server, self.server = self.server, None
            server.stop()

    def url(self, store: str) -> str:
        """A URL with empty state: a new in-process store, a new SQLite file, a new Redis namespace."""
        if store == "memory":
            return "memory://"
        if store == "sqlite":
            self._files += 1
            return "sqlite://" + str(self.tmp / f"state-{self._files}.db")
        assert self.server is not None
        return f"{self.server.url}?namespace=bench-{uuid.uuid4()}"

    def redis_calls(self) -> dict[str, float]:
        """The server's calls per command (``INFO commandstats``; commands run inside Lua scripts included),
        and its CPU time so far in seconds (under the key ``SERVER_CPU``)."""
        import redis

        assert self.server is not None
        with contextlib.closing(redis.Redis.from_url(self.server.url)) as client:
            stats = client.info("commandstats")
            cpu = client.info("cpu")
        calls: dict[str, float] = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
                                   if name not in ("cmdstat_info", "cmdstat_hello", "cmdstat_client|setinfo")}
        calls[SERVER_CPU] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        return calls


@contextlib.contextmanager
def stores_context() -> Iterator[Stores]:
    """A temporary directory and (when possible) a redis-server, both gone afterwards, also on Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-state-") as tmp:
        stores = Stores(Path(tmp))
        try:
            yield stores
        finally:
            stores.stop()


# --------------------------------------------------------------------------- machine


def machine_facts() -> dict[str, Any]:
    """CPU count and model, Python, redis-server and redis-py versions, load, the temp directory's file system."""
    server = "not installed"
    binary = shutil.which("redis-server")
    if binary:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
        server = next((part[2:] for part in out.split() if part.startswith("v=")), out.strip() or "unknown")
    try:
        import redis

        client = str(redis.__version__)
    except ImportError:
        client = "not installed"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "redis_server": server,
        "redis_py": client,
        "load_average": load_average(),
        "tmp_filesystem": _filesystem(Path(tempfile.gettempdir())),
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _filesystem(path: Path) -> str:
    """The file system type holding ``path`` (from /proc/mounts; SQLite's commit cost depends on it)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        resolved = str(path.resolve())
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 3:
                mount = parts[1]
                inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, kind = mount, parts[2]
    return kind
