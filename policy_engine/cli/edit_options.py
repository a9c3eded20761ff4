"""What the editing commands (``subs``, ``pool``, ``chain``, ``preset``, ``project``) share.

Which file an edit changes:

- the global policy: ``--policy FILE``, else ``<agent-dir>/multi-pass.yaml`` (or the existing
  ``.yml`` / ``.json`` one), created when missing;
- a project overlay, when ``--project DIR`` is given (``pool``, ``chain`` and ``preset`` edits) or
  for the ``project`` commands: ``DIR/.pi/multi-pass.yaml`` (or the existing ``.yml`` / ``.json``
  one; DIR may also name the overlay file itself). Without ``--project`` the ``project`` commands
  use the overlay the engine reads from the current directory (the nearest ``.pi/multi-pass.*``
  in it or a parent), else create ``./.pi/multi-pass.yaml``.

Every edit: check that the file can be written without touching anything else (no dangling
link, no link out of the agent directory or the project, no hard-linked or read-only file or
folder: :func:`policy_engine.edit.files.check_target`; refused with exit 1, also for
``--dry-run``), parse (a file that does not parse is reported with file:line and left
untouched, exit 1), change, validate the result (schema and compile: errors are printed and
nothing is written, exit 1), then write atomically, or with ``--dry-run`` print the unified
diff and write nothing. A request that cannot be carried out (an unknown pool, provider, ...)
exits 2. A write that fails (a full disk, a permission the checks could not foresee) exits 1.
``--format json`` prints one object: ``file``, ``kind``, ``created``, ``changed``, ``dryRun``,
``written`` (the disk was changed), ``deleted`` (the change removes the file), ``diff``,
``messages``, ``notes``, ``warnings`` (compile warnings the edit introduced) and, on failure,
``error``, ``code`` (``dangling-link``, ``link-outside``, ``hard-linked``, ``read-only``,
``not-a-file``, ``non-finite-number``, ``write-failed``, or null), ``hint`` and ``diagnostics``.
In text, what changed goes to stdout (with ``--dry-run``: the diff only, so it can be piped to
``patch``); notes and warnings to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from policy_engine.cli.common import EXIT_FAIL, EXIT_USAGE, emit_json, load_engine, print_diagnostics
from policy_engine.common.diagnostics import Diagnostic
from policy_engine.common.records import dataclass
from policy_engine.common.terminal_text import printable

if TYPE_CHECKING:
    from policy_engine.edit.document import PolicyDocument
    from policy_engine.edit.operations import Changes, EditContext
    from policy_engine.engine import Engine

__all__ = ["EditTarget", "at_option", "edit_options", "edit_target", "engine_at", "global_target", "on_off_state",
           "project_edit_options", "project_target", "run_edit", "show_status", "show_view"]

F = TypeVar("F", bound=Callable[..., Any])


def _options(func: F, *, project_help: str) -> F:
    options = [
        click.option("--policy", "policy", type=click.Path(dir_okay=False, path_type=Path),
                     help="The global policy file (default: <agent-dir>/multi-pass.yaml, else .json; created when "
                          "missing)."),
        click.option("--project", "project", type=click.Path(exists=True, path_type=Path), help=project_help),
        click.option("--agent-dir", "agent_dir", type=click.Path(file_okay=False, path_type=Path),
                     envvar="PI_CODING_AGENT_DIR",
                     help="pi's agent directory (default: $PI_CODING_AGENT_DIR, else ~/.pi/agent)."),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="Output format (JSON goes to stdout)."),
        click.option("--dry-run", "dry_run", is_flag=True,
                     help="Print the unified diff of the change and write nothing."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def edit_options(func: F) -> F:
    """``--policy``, ``--project``, ``--agent-dir``, ``--format``, ``--dry-run`` (edits of the global policy)."""
    return _options(func, project_help="Edit this project's overlay instead of the global policy "
                                       "(DIR/.pi/multi-pass.yaml, or the overlay file itself).")


def project_edit_options(func: F) -> F:
    """The same options for the ``project`` commands, whose ``--project`` defaults to the current directory."""
    return _options(func, project_help="The project (a directory, or its overlay file); default: the project "
                                       "of the current directory.")


def at_option(func: F) -> F:
    """``--at TIME``: look at the state of things at that moment instead of now."""
    return click.option("--at", "at", metavar="TIME",
                        help="Evaluate at this ISO-8601 time instead of now (without an offset: the policy's "
                             "time zone).")(func)


def on_off_state(on: bool, off: bool) -> bool | None:
    """The state ``toggle --on`` / ``--off`` asks for: True, False, or None (flip it)."""
    if on and off:
        raise click.UsageError("give --on or --off, not both")
    return True if on else False if off else None


def engine_at(at: str | None, options: dict[str, Any]) -> Engine:
    """A read-only engine for the command's options, its clock at ``--at`` when given."""
    from policy_engine.common.timezones import parse_instant

    if at is not None and not at.strip():
        raise click.BadParameter("an empty time; write e.g. 2026-04-06T10:30:00+02:00", param_hint="--at")
    moment: list[datetime] = []
    engine = load_engine(readonly=True, clock=(lambda: moment[0]) if at else None, **options)
    if at:
        try:
            moment.append(parse_instant(at, engine.graph.tz))
        except ValueError:
            engine.close()
            raise click.BadParameter(f"{at!r} is not an ISO-8601 time (e.g. 2026-04-06T10:30:00+02:00)",
                                     param_hint="--at") from None
    return engine


def show_view(options: dict[str, Any], build: Callable[[Engine], Any], render: Callable[[Any], str], *,
              at: str | None = None, key: str | None = None) -> None:
    """Build a view from a read-only engine (its clock at ``--at``), then print it.

    JSON is what ``build`` returned (wrapped as ``{key: ...}`` when ``key`` is given); text is ``render`` of it.
    """
    engine = engine_at(at, options)
    try:
        data = build(engine)
    finally:
        engine.close()
    if options["fmt"] == "json":
        emit_json({key: data} if key else data)
        return
    click.echo(printable(render(data), keep="\n"))  # account names may come from auth.json or MULTI_SUB


def show_status(options: dict[str, Any], names: tuple[str, ...], *, at: str | None, kind: str,
                table: Callable[[Any], Mapping[str, Any]], rows: Callable[[Engine, tuple[str, ...]], Any],
                render: Callable[[Any, datetime, tzinfo], str]) -> None:
    """The ``list`` / ``status`` views of pools or chains: check ``names``, read the state, print.

    ``kind`` is the singular noun ("pool"), ``table`` picks the graph's mapping of that kind,
    ``rows`` builds the status rows and ``render(rows, now, tz)`` the text; JSON is
    ``{"at": ..., "<kind>s": rows}``.
    """
    from policy_engine.common.suggestions import did_you_mean
    from policy_engine.common.timezones import isoformat

    engine = engine_at(at, options)
    try:
        known = table(engine.graph)
        unknown = [n for n in names if n not in known]
        if unknown:
            match = did_you_mean(unknown[0], sorted(known))
            raise click.BadParameter(f"there is no {kind} {unknown[0]!r}"
                                     + (f"; did you mean {match!r}?" if match else ""), param_hint="NAMES")
        found = rows(engine, names)
        now, tz = engine.now(), engine.graph.tz
    finally:
        engine.close()
    if options["fmt"] == "json":
        emit_json({"at": isoformat(now, tz), f"{kind}s": found})
        return
    click.echo(printable(render(found, now, tz), keep="\n"))


def edit_target(options: dict[str, Any]) -> EditTarget:
    """The project overlay with ``--project``, else the global policy."""
    return project_target(**options) if options["project"] is not None else global_target(**options)


@dataclass(frozen=True)
class EditTarget:
    """The file an edit changes, what kind it is, and (for an overlay) the global policy it narrows.

    ``root`` is the directory the file must stay in, links followed: the agent directory for the
    global policy (the file's folder with ``--policy``), the project for an overlay (the folder of
    an overlay file named with ``--project``, or of its ``.pi`` folder). ``option`` is the option
    that names a file directly.
    """

    path: Path
    kind: str  # "policy" | "project"
    agent_dir: Path
    global_path: Path | None = None
    root: Path | None = None
    option: str = "--policy"


def _agent_dir(agent_dir: Path | None) -> Path:
    from policy_engine.policy.locations import agent_dir as default_agent_dir

    return default_agent_dir(agent_dir)


def _global_path(policy: Path | None, directory: Path) -> Path:
    from policy_engine.policy.locations import global_policy_file

    if policy is not None:
        return policy.expanduser()
    return global_policy_file(directory) or directory / "multi-pass.yaml"


def global_target(*, policy: Path | None, agent_dir: Path | None, **_: Any) -> EditTarget:
    """The global policy: ``--policy``, else the agent directory's (``multi-pass.yaml`` when there is none)."""
    directory = _agent_dir(agent_dir)
    root = policy.expanduser().parent if policy is not None else directory
    return EditTarget(_global_path(policy, directory), "policy", directory, root=root)


def project_target(*, policy: Path | None, project: Path | None, agent_dir: Path | None, **_: Any) -> EditTarget:
    """The project overlay of ``--project`` (else of the current directory, searched upwards)."""
    from policy_engine.policy.locations import find_project_file

    directory = _agent_dir(agent_dir)
    global_path = _global_path(policy, directory)
    if project is not None and project.is_file():
        path = project
    else:
        base = project if project is not None else Path.cwd()
        found = find_project_file(base, search_up=project is None, exclude=global_path)
        path = found if found is not None else base / ".pi" / "multi-pass.yaml"
    root = path.parent.parent if path.parent.name == ".pi" else path.parent
    return EditTarget(path, "project", directory, global_path, root=root, option="--project")


def _shown(path: Path) -> str:
    """A path as people recognise it: relative to the current directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symbolic link loop (reading it says so)
        return str(path)


def _fail(fmt: str, code: int, message: str, *, file: str, hint: str | None = None,
          diagnostics: list[Diagnostic] | None = None, error_code: str | None = None) -> NoReturn:
    if fmt == "json":
        emit_json({"file": file, "changed": False, "written": False, "error": message, "code": error_code,
                   "hint": hint, "diagnostics": [d.to_dict() for d in diagnostics or []]})
    else:
        if diagnostics:
            print_diagnostics(diagnostics)
        click.echo(f"error: {message}", err=True)
        if hint:
            click.echo(f"    hint: {hint}", err=True)
    sys.exit(code)


def _key(d: Diagnostic) -> tuple[str, str, str]:
    return d.code, d.message, d.json_path


def run_edit(target: EditTarget, operate: Callable[[PolicyDocument, EditContext], Changes], *, fmt: str,
             dry_run: bool, delete_when_empty: bool = False, delete_file: bool = False) -> None:
    """Open ``target``, apply ``operate(document, context)`` (which returns ``Changes``), check, then write.

    ``delete_when_empty`` removes an overlay the edit left without keys; ``delete_file`` removes
    the file whatever it holds (``project clear --all``). See the module docstring for the rest.
    """
    from policy_engine.edit.document import (
        FileChangedError,
        PolicyDocument,
        UnreadableFileError,
        UnsafeTargetError,
        unified_diff,
    )
    from policy_engine.edit.json_text import NonFiniteNumberError
    from policy_engine.edit.operations import EditContext, EditError
    from policy_engine.policy.document import LoadedDocument

    shown = _shown(target.path)
    env = dict(os.environ)
    try:
        doc = PolicyDocument.open(target.path, target.kind, source=shown, root=target.root,  # type: ignore[arg-type]
                                  option=target.option)
    except UnsafeTargetError as exc:
        _fail(fmt, EXIT_FAIL, exc.message, file=shown, hint=exc.hint, error_code=exc.code)
    except UnreadableFileError as exc:
        _fail(fmt, EXIT_FAIL, f"{shown} cannot be read, so it was not changed", file=shown,
              hint="fix the file by hand (mp-policy validate shows every problem)", diagnostics=exc.diagnostics)
    global_doc: LoadedDocument | None = None
    global_data: dict[str, Any] | None = None
    if target.kind == "project" and target.global_path is not None and target.global_path.exists():
        global_shown = _shown(target.global_path)
        try:
            source = PolicyDocument.open(target.global_path, "policy", source=global_shown, for_writing=False)
        except UnreadableFileError as exc:
            _fail(fmt, EXIT_FAIL, f"the global policy {global_shown} cannot be read", file=shown,
                  hint="fix it first (mp-policy validate)", diagnostics=exc.diagnostics)
        global_doc, global_data = source.loaded(), source.data
    def before() -> list[Diagnostic]:
        """The diagnostics of the file as it was (only needed when the result has some)."""
        if not doc.exists:
            return []
        return doc.as_read().validate(env=env, global_doc=global_doc, agent_dir=target.agent_dir)

    context = EditContext.from_registry(env, global_data, agent_dir=target.agent_dir)
    try:
        changes = operate(doc, context)
    except EditError as exc:
        _fail(fmt, EXIT_USAGE, exc.message, file=shown, hint=exc.hint)
    except NonFiniteNumberError as exc:
        _fail(fmt, EXIT_FAIL, f"{exc.message}; {shown} was not changed", file=shown, error_code="non-finite-number",
              hint="JSON has no NaN or Infinity: fix the value where it comes from (mp-policy validate shows it)")
    deleted = doc.exists and (delete_file or (delete_when_empty and doc.is_empty()))
    if deleted:
        changes.say(f"deleted {shown}" + ("" if delete_file else " (nothing else was left in it)"))
        diff = unified_diff(doc.original, "", shown, deleted=True)
        found: list[Diagnostic] = []
    else:
        diff = doc.diff() if doc.changed else ""
        found = doc.validate(env=env, global_doc=global_doc, agent_dir=target.agent_dir) if doc.changed else []
    errors = [d for d in found if d.severity == "error"]
    earlier = before() if found else []
    if errors:
        already = [d for d in earlier if d.severity == "error"]
        # Errors the file already had are shown as the file has them (its own line numbers), not at their
        # lines in the edited text, which was never written.
        old_keys = {_key(d) for d in already}
        new = [d for d in errors if _key(d) not in old_keys]
        hint = (f"{shown} already had {len(already)} error(s) before this edit (shown at its own lines); fix them "
                "first (mp-policy validate)" if already else "the change would make the policy invalid")
        if already and new:
            hint += f"; the edit itself would add {len(new)} more"
        _fail(fmt, EXIT_FAIL, f"{shown} was not changed: the result would be invalid", file=shown, hint=hint,
              diagnostics=already + new)
    known = {_key(d) for d in earlier}
    warnings = [d for d in found if d.severity == "warning" and _key(d) not in known]
    changed = deleted or doc.changed
    if target.kind == "policy" and doc.changed and not deleted:
        for message in _overlay_broken_by(doc, target, env):
            changes.note(message)
    existed = doc.exists
    if changed and not deleted and target.path.is_symlink():
        changes.note(f"{shown} is a symbolic link: {'the edit goes to' if dry_run else 'wrote'} "
                     f"{_shown(target.path.resolve())}, the file it points to (the link stays)")
    if changed and not dry_run:
        try:
            if deleted:
                doc.remove()
            else:
                doc.save()
        except FileChangedError as exc:
            _fail(fmt, EXIT_FAIL, str(exc), file=shown)
        except UnsafeTargetError as exc:
            _fail(fmt, EXIT_FAIL, exc.message, file=shown, hint=exc.hint, error_code=exc.code)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            _fail(fmt, EXIT_FAIL, f"{shown} could not be written ({exc.strerror or exc}{where}); the file is as it was",
                  file=shown, error_code="write-failed", hint="check the folder's permissions and free space")
    _report(fmt, shown=shown, kind=target.kind, created=not existed and changed, changed=changed,
            dry_run=dry_run, deleted=deleted, diff=diff, changes=changes, warnings=warnings)


def _overlay_broken_by(doc: Any, target: EditTarget, env: dict[str, str]) -> list[str]:
    """What the edit of the global policy breaks in the project overlay the current folder uses: the errors the
    overlay has with the edited policy and had not before (an edit writes only its own file, so a pool removed
    or renamed there may be one a project's chain still names)."""
    from policy_engine.common.diagnostics import PolicyError
    from policy_engine.edit.document import PolicyDocument, UnreadableFileError
    from policy_engine.policy.locations import find_project_file

    try:
        path = find_project_file(Path.cwd(), search_up=True, exclude=target.path)
    except OSError:
        return []
    if path is None:
        return []
    shown = _shown(path)
    try:
        overlay = PolicyDocument.open(path, "project", source=shown, for_writing=False)
        errors = [d for d in overlay.validate(env=env, global_doc=doc.loaded(), agent_dir=target.agent_dir)
                  if d.severity == "error"]
        if errors:  # only those the edit brought: the overlay checked against the policy as it was read
            was = {_key(d) for d in overlay.validate(env=env, global_doc=doc.as_read().loaded(),
                                                     agent_dir=target.agent_dir)}
            errors = [d for d in errors if _key(d) not in was]
    except (UnreadableFileError, PolicyError, OSError):
        return []
    return [f"the project overlay {shown} (this folder's) is invalid with the edited policy; fix it there (the "
            f"editors take --project): {d.format()}" for d in errors]


def _report(fmt: str, *, shown: str, kind: str, created: bool, changed: bool, dry_run: bool, deleted: bool,
            diff: str, changes: Changes, warnings: list[Diagnostic]) -> None:
    written = changed and not dry_run
    if fmt == "json":
        emit_json({"file": shown, "kind": kind, "created": created and not deleted, "changed": changed,
                   "dryRun": dry_run, "written": written, "deleted": deleted,
                   "diff": diff, "messages": changes.messages, "notes": changes.notes,
                   "warnings": [d.to_dict() for d in warnings]})
        return
    if dry_run:
        click.echo(diff, nl=False)
        for message in changes.messages:
            click.echo(f"would: {message}", err=True)
    else:
        where = f"{shown} (new file)" if created else shown
        for message in changes.messages:
            click.echo(f"{where}: {message}" if changed else message)
    for note in changes.notes:
        click.echo(f"note: {note}", err=True)
    print_diagnostics(warnings)
    if dry_run:
        click.echo(f"dry run: {shown} not written" if changed else "dry run: no change", err=True)
    elif not changed:
        click.echo(f"{shown}: no change", err=True)
