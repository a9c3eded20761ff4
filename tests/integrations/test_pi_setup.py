"""``mp-policy pi install|uninstall`` on real settings files (through the installed console script), and
the extension shipped as package data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from policy_engine.integrations.pi_setup import engine_command, extension_dir

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "mp-policy"
FOLDER = str(extension_dir())
AUTH = '{"anthropic": {"type": "oauth", "access": "sk-ant-oat01-SETUP-CANARY", "refresh": "r", "expires": 1}}\n'

#: A settings.json as pi writes it (JSON.stringify with two spaces, no newline at the end).
PI_WRITTEN = json.dumps({
    "defaultProvider": "anthropic",
    "defaultModel": "claude-sonnet-4-5",
    "retry": {"enabled": True, "provider": {"maxRetries": 5, "timeoutMs": 60000}},
    "packages": ["npm:pi-skills"],
    "theme": "light",
}, indent=2)


def mp_policy(*args: str, agent: Path | None = None, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    """Run the installed mp-policy (with ``--agent-dir agent`` when given)."""
    if not SCRIPT.exists():
        pytest.skip(f"the mp-policy console script is not installed next to the interpreter ({SCRIPT})")
    argv = [str(SCRIPT), *args, *(["--agent-dir", str(agent)] if agent is not None else [])]
    base = {k: v for k, v in os.environ.items() if k != "PI_CODING_AGENT_DIR"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env={**base, **(env or {})})


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    """An agent directory with an auth.json that must never change."""
    directory = tmp_path / "agent"
    directory.mkdir()
    (directory / "auth.json").write_text(AUTH)
    return directory


def settings(agent: Path) -> dict[str, Any]:
    return json.loads((agent / "settings.json").read_text())


def test_install_into_a_fresh_agent_directory(agent: Path) -> None:
    auth_before = (agent / "auth.json").stat()
    run = mp_policy("pi", "install", agent=agent)
    assert run.returncode == 0, run.stderr
    data = settings(agent)
    assert data == {
        "packages": [FOLDER],
        "retry": {"provider": {"maxRetries": 0}},
        "mpPolicy": {"command": [str(SCRIPT)], "socket": str(agent / "mp-policy.sock"), "package": FOLDER,
                     "previous": {}, "created": ["packages", "retry", "retry.provider"]},
    }
    assert f"+++ {agent / 'settings.json'} (after)" in run.stdout
    assert f'+    "{FOLDER}"' in run.stdout
    assert f"starts: {SCRIPT} serve --socket {agent / 'mp-policy.sock'} --idle-exit 30m\n" in run.stdout
    assert "(one engine kept running between pi sessions; it stops after 30m without one)" in run.stdout
    assert "Undo with: mp-policy pi uninstall" in run.stdout
    assert (agent / "auth.json").read_text() == AUTH
    assert (agent / "auth.json").stat().st_mtime_ns == auth_before.st_mtime_ns
    assert "SETUP-CANARY" not in run.stdout + run.stderr
    assert not (agent / "settings.json.lock").exists(), "pi's lock is released"


def test_install_keeps_every_other_setting_and_is_idempotent(agent: Path) -> None:
    (agent / "settings.json").write_text(PI_WRITTEN)
    assert mp_policy("pi", "install", agent=agent).returncode == 0
    text = (agent / "settings.json").read_text()
    data = json.loads(text)
    assert list(data) == ["defaultProvider", "defaultModel", "retry", "packages", "theme", "mpPolicy"]
    assert data["retry"] == {"enabled": True, "provider": {"maxRetries": 0, "timeoutMs": 60000}}
    assert data["packages"] == ["npm:pi-skills", FOLDER]
    assert data["mpPolicy"]["previous"] == {"retry.provider.maxRetries": 5}
    assert data["mpPolicy"]["created"] == []
    assert text.startswith('{\n  "defaultProvider": "anthropic",\n'), "pi's two-space indentation"
    assert not text.endswith("\n"), "no newline added where pi writes none"

    again = mp_policy("pi", "install", agent=agent)
    assert again.returncode == 0
    assert "already installed" in again.stdout
    assert "---" not in again.stdout, "no diff: nothing changed"
    assert (agent / "settings.json").read_text() == text


def test_uninstall_restores_exactly_what_was_there(agent: Path) -> None:
    (agent / "settings.json").write_text(PI_WRITTEN)
    assert mp_policy("pi", "install", agent=agent).returncode == 0
    run = mp_policy("pi", "uninstall", agent=agent)
    assert run.returncode == 0, run.stderr
    assert (agent / "settings.json").read_text() == PI_WRITTEN
    assert f'-    "{FOLDER}"' in run.stdout
    assert mp_policy("pi", "uninstall", agent=agent).stdout.startswith("The mp-policy extension is not installed")
    assert (agent / "auth.json").read_text() == AUTH


def test_uninstall_after_a_fresh_install_leaves_nothing_behind(agent: Path) -> None:
    (agent / "settings.json").write_text('{\n  "theme": "dark"\n}\n')
    assert mp_policy("pi", "install", agent=agent).returncode == 0
    assert mp_policy("pi", "uninstall", agent=agent).returncode == 0
    assert (agent / "settings.json").read_text() == '{\n  "theme": "dark"\n}\n'


def test_uninstall_keeps_a_retry_setting_changed_since_install(agent: Path) -> None:
    (agent / "settings.json").write_text(PI_WRITTEN)
    mp_policy("pi", "install", agent=agent)
    data = settings(agent)
    data["retry"]["provider"]["maxRetries"] = 2
    (agent / "settings.json").write_text(json.dumps(data, indent=2))
    run = mp_policy("pi", "uninstall", agent=agent)
    assert run.returncode == 0
    assert settings(agent)["retry"]["provider"]["maxRetries"] == 2
    assert "note: retry.provider.maxRetries is 2 (changed since install): left as it is" in run.stderr
    assert "mpPolicy" not in settings(agent)


def test_uninstall_warns_about_a_default_model_of_an_extra_account(agent: Path) -> None:
    mp_policy("pi", "install", agent=agent)
    data = settings(agent)
    data["defaultProvider"] = "anthropic-2"  # what pi writes after the extension switched accounts
    (agent / "settings.json").write_text(json.dumps(data, indent=2))
    run = mp_policy("pi", "uninstall", agent=agent)
    assert "pi's defaultProvider is anthropic-2, an extra account that only the extension registers" in run.stderr
    assert settings(agent)["defaultProvider"] == "anthropic-2", "not ours to change"


def test_dry_run_shows_the_change_and_writes_nothing(agent: Path) -> None:
    (agent / "settings.json").write_text(PI_WRITTEN)
    run = mp_policy("pi", "install", "--dry-run", agent=agent)
    assert run.returncode == 0
    assert "would be changed" in run.stdout
    assert '-      "maxRetries": 5,' in run.stdout and '+      "maxRetries": 0,' in run.stdout
    assert (agent / "settings.json").read_text() == PI_WRITTEN


def test_json_output(agent: Path) -> None:
    run = mp_policy("pi", "install", "--format", "json", agent=agent)
    assert run.returncode == 0
    out = json.loads(run.stdout)
    assert out["action"] == "install" and out["changed"] is True and out["dryRun"] is False
    assert out["settings"] == str(agent / "settings.json")
    assert out["extension"] == FOLDER and out["command"] == [str(SCRIPT)]
    assert out["socket"] == str(agent / "mp-policy.sock") and out["idleExit"] == "30m"
    assert out["stoppedServers"] == []
    assert out["diff"].startswith("--- ")
    again = json.loads(mp_policy("pi", "uninstall", "--format", "json", agent=agent).stdout)
    assert again["action"] == "uninstall" and again["changed"] is True


def test_per_session_records_no_socket_and_the_kept_engine_comes_back_without_it(agent: Path) -> None:
    run = mp_policy("pi", "install", "--per-session", agent=agent)
    assert run.returncode == 0, run.stderr
    assert "socket" not in settings(agent)["mpPolicy"]
    assert f"starts: {SCRIPT} serve --stdio (one engine for each pi session)" in run.stdout
    as_json = json.loads(mp_policy("pi", "install", "--per-session", "--format", "json", agent=agent).stdout)
    assert as_json["changed"] is False and as_json["socket"] is None and as_json["idleExit"] is None
    kept = mp_policy("pi", "install", "--keep-running", agent=agent)  # the default, spelt out
    assert kept.returncode == 0, kept.stderr
    assert settings(agent)["mpPolicy"]["socket"] == str(agent / "mp-policy.sock")
    assert f'+    "socket": "{agent / "mp-policy.sock"}",' in kept.stdout


def test_idle_exit_is_recorded_kept_by_later_installs_and_dropped_with_per_session(agent: Path) -> None:
    run = mp_policy("pi", "install", "--idle-exit", "1H 30m", agent=agent)
    assert run.returncode == 0, run.stderr
    ours = settings(agent)["mpPolicy"]
    assert list(ours) == ["command", "socket", "idleExit", "package", "previous", "created"]
    assert ours["idleExit"] == "1h30m", "written as the extension and `serve` read it"
    assert "--idle-exit 1h30m" in run.stdout
    again = mp_policy("pi", "install", agent=agent)
    assert "already installed" in again.stdout and "--idle-exit 1h30m" in again.stdout
    assert settings(agent)["mpPolicy"]["idleExit"] == "1h30m"
    per_session = mp_policy("pi", "install", "--per-session", agent=agent)
    assert per_session.returncode == 0, per_session.stderr
    assert "idleExit" not in settings(agent)["mpPolicy"]
    assert "note: the idle time '1h30m' of the kept engine was dropped" in per_session.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--idle-exit", "soon"), "Invalid value for --idle-exit: expected a duration such as 90s, 5m, 1h30m or 2d"),
    (("--idle-exit", "0s"), "Invalid value for --idle-exit: must be longer than 0, got '0s'"),
    (("--per-session", "--idle-exit", "10m"), "--idle-exit applies to the kept engine"),
])
def test_a_bad_idle_exit_is_a_usage_error_and_changes_nothing(agent: Path, args: tuple[str, ...], message: str
                                                              ) -> None:
    (agent / "settings.json").write_text(PI_WRITTEN)
    run = mp_policy("pi", "install", *args, agent=agent)
    assert run.returncode == 2, run.stdout
    assert message in run.stderr
    assert (agent / "settings.json").read_text() == PI_WRITTEN


def test_pi_coding_agent_dir_is_the_default(agent: Path) -> None:
    run = mp_policy("pi", "install", env={"PI_CODING_AGENT_DIR": str(agent)})
    assert run.returncode == 0, run.stderr
    assert settings(agent)["packages"] == [FOLDER]


@pytest.mark.parametrize(("content", "expected"), [
    ('{\n  "theme": "dark",\n  oops\n}', r"settings.json:3:3: settings-not-json: pi's settings are not JSON"),
    ("[1, 2]", r"settings.json: settings-not-object: pi's settings must be a JSON object"),
    ("[" * 100_000, r"settings.json: settings-not-json: pi's settings are nested too deeply to be read"),
])
def test_a_settings_file_that_is_not_a_json_object_is_never_rewritten(agent: Path, content: str, expected: str
                                                                      ) -> None:
    (agent / "settings.json").write_text(content)
    for action in ("install", "uninstall"):
        run = mp_policy("pi", action, agent=agent)
        assert run.returncode == 1, (action, run.stdout, run.stderr)
        assert re.search(expected, run.stderr), run.stderr
        assert "hint: " in run.stderr
        assert "Traceback" not in run.stderr
        assert (agent / "settings.json").read_text() == content


def test_a_fifo_in_place_of_the_settings_file_is_refused_without_waiting(agent: Path) -> None:
    os.mkfifo(agent / "settings.json")  # nobody ever writes to it: reading it would wait forever
    for args in (("install",), ("install", "--dry-run"), ("uninstall",)):
        run = mp_policy("pi", *args, agent=agent)
        assert run.returncode == 1, (args, run.stdout, run.stderr)
        assert "settings.json: settings-unreadable: pi's settings file is a FIFO (named pipe)" in run.stderr
        assert "hint: " in run.stderr and "Traceback" not in run.stderr
    assert (agent / "settings.json").is_fifo()
    assert not (agent / "settings.json.lock").exists(), "pi's lock is released"


@pytest.mark.parametrize(("content", "expected"), [
    ('{"packages": "npm:x"}', "packages in pi's settings is not a list (at $.packages)"),
    ('{"retry": 3}', "retry in pi's settings is not an object (at $.retry)"),
    ('{"retry": {"provider": []}}', "retry.provider in pi's settings is not an object (at $.retry.provider)"),
])
def test_install_refuses_settings_of_the_wrong_shape_and_uninstall_leaves_them(agent: Path, content: str,
                                                                               expected: str) -> None:
    (agent / "settings.json").write_text(content)
    run = mp_policy("pi", "install", agent=agent)
    assert run.returncode == 1, run.stdout
    assert expected in run.stderr
    undo = mp_policy("pi", "uninstall", agent=agent)
    assert undo.returncode == 0 and "not installed" in undo.stdout
    assert (agent / "settings.json").read_text() == content


def test_a_reformatted_file_is_not_rewritten(agent: Path) -> None:
    mp_policy("pi", "install", agent=agent)
    text = json.dumps(settings(agent), indent=4)  # the user re-indented it
    (agent / "settings.json").write_text(text)
    assert "already installed" in mp_policy("pi", "install", agent=agent).stdout
    assert (agent / "settings.json").read_text() == text


def test_an_older_install_of_the_extension_is_replaced(agent: Path) -> None:
    old = str(agent.parent / "old-venv" / "integrations" / "pi")
    (agent / "settings.json").write_text(json.dumps({
        "packages": ["npm:pi-skills", old],
        "retry": {"provider": {"maxRetries": 0}},
        "mpPolicy": {"command": ["/old/mp-policy"], "package": old, "previous": {"retry.provider.maxRetries": 4},
                     "created": []},
    }, indent=2))
    assert mp_policy("pi", "install", agent=agent).returncode == 0
    data = settings(agent)
    assert data["packages"] == ["npm:pi-skills", FOLDER]
    assert data["mpPolicy"]["command"] == [str(SCRIPT)]
    assert data["mpPolicy"]["previous"] == {"retry.provider.maxRetries": 4}, "the first install's record stays"


def test_a_folder_pi_install_added_relative_to_the_agent_directory_counts(agent: Path) -> None:
    relative = os.path.relpath(FOLDER, agent)  # what `pi install <folder>` writes
    (agent / "settings.json").write_text(json.dumps({"packages": [relative]}))
    mp_policy("pi", "install", agent=agent)
    assert settings(agent)["packages"] == [relative], "not added twice"
    mp_policy("pi", "uninstall", agent=agent)
    assert settings(agent)["packages"] == []


def test_pi_multi_pass_installed_too_is_pointed_out(agent: Path) -> None:
    (agent / "settings.json").write_text(json.dumps({"packages": ["npm:pi-multi-pass"]}))
    run = mp_policy("pi", "install", agent=agent)
    assert run.returncode == 0
    assert "note: pi-multi-pass is installed too (npm:pi-multi-pass)" in run.stderr


def test_pis_settings_lock_is_respected(agent: Path) -> None:
    (agent / "settings.json").write_text("{}")
    lock = agent / "settings.json.lock"
    lock.mkdir()  # pi (proper-lockfile) is writing the file right now
    run = mp_policy("pi", "install", agent=agent)
    assert run.returncode == 1
    assert "pi's settings are locked by another process" in run.stderr
    assert (agent / "settings.json").read_text() == "{}"
    old = time.time() - 60
    os.utime(lock, (old, old))  # a lock left behind by a crashed pi is stale after 10 s
    assert mp_policy("pi", "install", agent=agent).returncode == 0
    assert not lock.exists()


def test_engine_command_prefers_the_running_console_script(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "mp-policy"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert engine_command(str(script), sys.executable) == [str(script)]
    python = tmp_path / "bin" / "python3"
    assert engine_command("/usr/lib/pytest", str(python)) == [str(script)], "the one next to the interpreter"
    fallback = engine_command("pytest", str(tmp_path / "elsewhere" / "python3"))
    assert fallback[:2] == [str(tmp_path / "elsewhere" / "python3"), "-c"]
    assert "from policy_engine.cli import main" in fallback[2]


def test_the_fallback_engine_command_runs_the_cli(tmp_path: Path) -> None:
    argv = engine_command("pytest", str(tmp_path / "python3"))  # no mp-policy script anywhere near
    assert argv[0] == str(tmp_path / "python3")
    argv[0] = sys.executable
    run = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0 and run.stdout.startswith("mp-policy, version "), run.stderr


# -- the extension ships inside the distribution ---------------------------------------------------------


def test_every_file_of_the_extension_is_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "policy_engine.integrations" in config["packages"]
    patterns = config["package-data"]["policy_engine.integrations"]
    files = sorted(p.relative_to(extension_dir().parent).as_posix() for p in extension_dir().iterdir() if p.is_file())
    assert "pi/package.json" in files and "pi/extension.js" in files
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), f"{name} would be left out of the wheel"
    manifest = json.loads((extension_dir() / "package.json").read_text())
    for entry in manifest["pi"]["extensions"]:
        assert (extension_dir() / entry).is_file(), entry
    assert "dependencies" not in manifest, "nothing beyond what pi provides"


def test_a_built_wheel_holds_the_extension(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
                         capture_output=True, text=True, timeout=600, check=False)
    if run.returncode != 0:
        if os.environ.get("MP_POLICY_REQUIRE_PI"):
            pytest.fail(f"building the wheel failed: {run.stderr[-1000:]}")
        pytest.skip(f"cannot build a wheel here (build isolation needs PyPI): {run.stderr.strip()[-300:]}")
    wheel = next(tmp_path.glob("mp_policy-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in extension_dir().iterdir():
        assert f"policy_engine/integrations/pi/{path.name}" in names
    assert "policy_engine/integrations/pi_setup.py" in names


def _serve(agent: Path) -> subprocess.Popen[str]:
    """A real ``mp-policy serve --socket`` on the socket install records, once it listens."""
    sock = agent / "mp-policy.sock"
    proc = subprocess.Popen([str(SCRIPT), "serve", "--socket", str(sock), "--agent-dir", str(agent), "--state",
                             f"sqlite:///{agent / 'state.db'}"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "MP_POLICY_QUOTA_REFRESH": "0"})
    deadline = time.monotonic() + 30
    while not sock.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the server did not start listening"
        time.sleep(0.05)
    return proc


def test_every_install_but_a_dry_run_stops_the_kept_engine(agent: Path) -> None:
    sock = agent / "mp-policy.sock"
    if not SCRIPT.exists():
        pytest.skip(f"the mp-policy console script is not installed next to the interpreter ({SCRIPT})")
    for attempt in range(2):  # the first install records the socket; the second changes nothing in settings.json
        server = _serve(agent)
        try:
            dry = mp_policy("pi", "install", "--dry-run", agent=agent)
            assert dry.returncode == 0 and "Stopped" not in dry.stdout
            assert server.poll() is None, "a dry run stops nothing"
            run = mp_policy("pi", "install", agent=agent)
            assert run.returncode == 0, run.stderr
            assert ("already installed" in run.stdout) == (attempt == 1)
            assert f"Stopped the engine server on {sock}." in run.stdout
            assert not sock.exists(), "install returns once the socket is gone: the next pi starts a new server"
            assert server.wait(30) == 0
        finally:
            if server.poll() is None:
                server.kill()
            server.communicate(timeout=30)
    server = _serve(agent)
    try:
        undo = mp_policy("pi", "uninstall", agent=agent)
        assert f"Stopped the engine server on {sock}." in undo.stdout
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=30)
