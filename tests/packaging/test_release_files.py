"""The release's own files agree: the version (``policy_engine.__version__``, the package metadata,
``mp-policy --version``, serve's ``hello``, the pi extension's package.json) is the newest CHANGELOG.md
section, and LICENSE is the MIT text the metadata claims."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from policy_engine import __version__

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "mp-policy"


def _changelog_versions() -> list[str]:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, flags=re.MULTILINE)


def test_the_version_is_the_newest_changelog_section_everywhere() -> None:
    versions = _changelog_versions()
    assert versions and versions[0] == __version__ == "0.2.0"
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "policy_engine.__version__"}
    shown = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, check=True, timeout=60)
    assert shown.stdout.strip() == f"mp-policy, version {__version__}"
    pi_package = json.loads((ROOT / "policy_engine/integrations/pi/package.json").read_text(encoding="utf-8"))
    assert pi_package["version"] == __version__


def test_serve_says_hello_with_the_version() -> None:
    hello = json.dumps({"id": 1, "op": "hello", "protocol": 1})
    done = subprocess.run([str(SCRIPT), "serve", "--stdio", "--policy", str(ROOT / "policies/demo/multi-pass.yaml"),
                           "--state", "memory://"], input=hello + "\n", capture_output=True, text=True, timeout=60)
    answer = json.loads(done.stdout.splitlines()[0])
    assert answer["result"]["version"] == __version__


def test_license_is_the_mit_text_the_metadata_claims() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the mp-policy authors\n")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
