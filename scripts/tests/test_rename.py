"""`make rename NAME=...` (scripts/rename.py): validation, dry run, rollback, and renaming a copy of this repo."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import rename
from scripts.journal import JOURNAL
from scripts.project import MAX_NAME_LENGTH, current_name, name_pattern

from .helpers import (
    BIN,
    HOSTILE_VALUES,
    REPO,
    copy_repo,
    free_names,
    make,
    refuses_name_as_written,
    run,
    run_project_tests,
    serve_json,
    snapshot,
    text_files,
    write_tree,
)

OLD = current_name(REPO)

FAKE: dict[str, str | bytes] = {
    "oldname/__init__.py": "from oldname.app import create_app\n",
    "oldname/app.py": 'PREFIX = "OLDNAME_"\n\n\nclass OldnameError(Exception):\n    """Oldname failed."""\n',
    "oldname/tests/test_app.py": "import oldname\n",
    "deploy/oldname.yaml": "name: oldname\nenv: OLDNAME_LOG_LEVEL\n",
    "setup.py": 'setup(name="oldname")\n',
    "README.md": "# Oldname\n",
    "notes.txt": "nothing to see\n",
    "settings.yml": "LOG_LEVEL: INFO\n",
    "logo.bin": b"\xff\xfeoldname\x00",
    ".git/config": "oldname\n",
    ".venv/lib/oldname.py": "oldname\n",
    "env/pyvenv.cfg": "home = /usr\n",
    "env/oldname.py": "oldname\n",
    "oldname.egg-info/PKG-INFO": "Name: oldname\n",
    "oldname/__pycache__/app.cpython-311.pyc": "oldname\n",
}


@pytest.fixture(name="project")
def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small project whose package is `oldname`, as the current folder."""
    root = write_tree(tmp_path / "project", FAKE)
    monkeypatch.chdir(root)
    return root


def test_rename_replaces_every_case_and_moves_paths(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rename.main(["newname"]) == 0
    files = text_files(project)
    assert files["newname/__init__.py"] == "from newname.app import create_app\n"
    assert (
        files["newname/app.py"]
        == 'PREFIX = "NEWNAME_"\n\n\nclass NewnameError(Exception):\n    """Newname failed."""\n'
    )
    assert files["deploy/newname.yaml"] == "name: newname\nenv: NEWNAME_LOG_LEVEL\n"
    assert (files["setup.py"], files["README.md"], files["notes.txt"]) == (
        'setup(name="newname")\n',
        "# Newname\n",
        FAKE["notes.txt"],
    )
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "move deploy/oldname.yaml -> deploy/newname.yaml",
        "move oldname -> newname",
        "renamed oldname to newname: files changed: 6, paths moved: 2",
    ]


def test_rename_leaves_binary_files_and_tool_folders_alone(project: Path) -> None:
    before = snapshot(project)
    assert rename.main(["newname"]) == 0
    after = snapshot(project)
    untouched = ["logo.bin", ".git/config", ".venv/lib/oldname.py", "env/oldname.py", "oldname.egg-info/PKG-INFO"]
    assert {name: after[name] for name in untouched} == {name: before[name] for name in untouched}
    assert after["newname/__pycache__/app.cpython-311.pyc"] == b"oldname\n"  # moved with its folder, not edited


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "no name given: run make rename NAME=<new name>, e.g. make rename NAME=billing"),
        ("Newname", "invalid name 'Newname': use a lowercase letter, then lowercase letters, digits or _"),
        ("2fast", "invalid name '2fast': use a lowercase letter, then lowercase letters, digits or _"),
        ("new-name", "invalid name 'new-name': use a lowercase letter, then lowercase letters, digits or _"),
        ("class", "invalid name 'class': it is a Python keyword or builtin"),
        ("match", "invalid name 'match': it is a Python keyword or builtin"),
        ("list", "invalid name 'list': it is a Python keyword or builtin"),
        ("json", "invalid name 'json': it is a module of Python's standard library"),
        ("quart", "invalid name 'quart': it is an installed or required package"),
        ("yaml", "invalid name 'yaml': it is an installed or required package"),
        ("pytest", "invalid name 'pytest': it is an installed or required package"),
        ("werkzeug", "invalid name 'werkzeug': it is an installed or required package"),
        ("oldname", "invalid name 'oldname': the service is already called 'oldname'"),
        ("deploy", "invalid name 'deploy': deploy already uses it"),
        ("notes", "invalid name 'notes': notes.txt already uses it"),
        ("log", "invalid name 'log': settings.yml line 1 already uses it as a word; a later rename would change it"),
    ],
)
def test_rename_refuses_bad_name_and_changes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    before = snapshot(project)
    assert rename.main([name]) == 1
    assert capsys.readouterr() == ("", f"rename: {message}\n")
    assert snapshot(project) == before


def test_rename_ignores_words_in_binary_files(project: Path) -> None:
    """A coverage database or an image naming the new name does not make it taken: rename leaves them alone."""
    write_tree(project, {".coverage.host.pid1": b"SQLite format 3\x00\xff/tmp/newname/app.py\n"})
    assert rename.main(["newname"]) == 0


def test_rename_refuses_a_name_listed_only_in_requirements(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(project, {"requirements.txt": "# pins\nNot-Installed-Anywhere==1.0\n"})
    assert rename.main(["not_installed_anywhere"]) == 1
    assert "it is an installed or required package" in capsys.readouterr().err


def test_rename_refuses_a_name_that_makes_a_string_too_long(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A string no formatter can wrap would pass ruff's limit (88 here): refused, every file as it was."""
    write_tree(project, {"oldname/text.py": 'TEXT = "' + " ".join(["oldname"] * 9) + '"\n'})
    before = snapshot(project)
    assert rename.main(["a_much_longer_name_for_it"]) == 1
    assert capsys.readouterr().err == (
        "rename: the name 'a_much_longer_name_for_it' makes lines too long, which no formatter can fix:"
        " a_much_longer_name_for_it/text.py:1\n"
    )
    assert snapshot(project) == before


def test_rename_refuses_a_move_onto_an_existing_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(project, {"docs/oldname_guide.md": "a\n", "docs/newname_guide.md": "b\n"})
    before = snapshot(project)
    assert rename.main(["newname"]) == 1
    assert capsys.readouterr().err == (
        "rename: cannot move docs/oldname_guide.md: docs/newname_guide.md already exists\n"
    )
    assert snapshot(project) == before


def test_rename_without_one_package_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(project, {"other/__init__.py": "", "other/app.py": ""})
    assert rename.main(["newname"]) == 1
    assert capsys.readouterr().err == (
        "rename: cannot tell the service's package: expected one folder with app.py, found ['oldname', 'other']\n"
    )


def test_dry_run_prints_the_plan_and_changes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(project)
    assert rename.main(["newname", "--dry-run"]) == 0
    assert snapshot(project) == before
    assert capsys.readouterr().out.splitlines() == [
        "would change README.md",
        "would change setup.py",
        "would change deploy/oldname.yaml",
        "would change oldname/__init__.py",
        "would change oldname/app.py",
        "would change oldname/tests/test_app.py",
        "would move deploy/oldname.yaml -> deploy/newname.yaml",
        "would move oldname -> newname",
        "would rename oldname to newname: files changed: 6, paths moved: 2",
    ]


def test_dry_run_of_this_repo_names_the_package_and_the_env_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    [new] = free_names(REPO, 1)
    assert rename.main([new, "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert {f"would change {OLD}/settings.py", "would change setup.py", "would change Makefile"} <= set(out)
    assert f"would move {OLD} -> {new}" in out


def test_failed_write_rolls_everything_back(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    written: list[Path] = []
    original = rename.write_file

    def fail_third_write(path: Path, data: bytes) -> None:
        written.append(path)
        if len(written) == 3:
            raise OSError(f"disk full writing {path.name}")
        original(path, data)

    monkeypatch.setattr(rename, "write_file", fail_third_write)
    assert rename.main(["newname"]) == 1
    assert capsys.readouterr().err == "rename: disk full writing oldname.yaml\n"
    assert snapshot(project) == before


def test_failed_move_rolls_everything_back(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    original = Path.rename

    def fail_package_move(self: Path, target: Path) -> Path:
        if Path(target).name == "newname":
            raise PermissionError("package folder is busy")
        return original(self, target)

    monkeypatch.setattr(Path, "rename", fail_package_move)
    assert rename.main(["newname"]) == 1
    assert capsys.readouterr().err == "rename: package folder is busy\n"
    assert snapshot(project) == before


def test_rename_changes_whole_words_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name inside a longer word (logging, logs.py) stays; the name as a word, or joined by _ or a capital, goes."""
    files = {
        "log/__init__.py": "import logging\n\nfrom log.logs import LogError\n",
        "log/app.py": 'PREFIX = "LOG_"\nDIR = "log-metrics-"\nMETRIC = "log_http_requests_total"\n',
        "log/logs.py": 'class LogError(Exception):\n    """Blog, catalog and LOGS are other words."""\n',
        "settings.ini": "[log]\nDEBUG = 1\n",
    }
    monkeypatch.chdir(write_tree(tmp_path / "project", files))
    assert rename.main(["newname"]) == 0
    assert text_files(tmp_path / "project") == {
        "newname/__init__.py": "import logging\n\nfrom newname.logs import NewnameError\n",
        "newname/app.py": 'PREFIX = "NEWNAME_"\nDIR = "newname-metrics-"\nMETRIC = "newname_http_requests_total"\n',
        "newname/logs.py": 'class NewnameError(Exception):\n    """Blog, catalog and LOGS are other words."""\n',
        "settings.ini": "[newname]\nDEBUG = 1\n",
    }


KILLER = """
import os, signal, sys
from scripts import rename
original, count = rename.write_file, [0]
def write_file(path, data):
    original(path, data)
    count[0] += 1
    if count[0] == 3:
        os.kill(os.getpid(), signal.{signal})
rename.write_file = write_file
sys.exit(rename.main(["newname"]))
"""


def kill_rename(root: Path, signal_name: str) -> subprocess.CompletedProcess[str]:
    """Run a rename of `root` to newname that gets `signal_name` after its third file."""
    code = KILLER.format(signal=signal_name)
    env = {"PYTHONPATH": str(REPO), "PATH": ""}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_rename_stopped_by_a_signal_puts_every_file_back(project: Path, signal_name: str) -> None:
    """SIGTERM or Ctrl-C midway: the rename undoes its writes before it exits, and says so."""
    before = snapshot(project)
    result = kill_rename(project, signal_name)
    assert (result.returncode, result.stderr) == (130, "rename: interrupted: every file is as it was\n")
    assert snapshot(project) == before


def test_rename_killed_midway_is_undone_by_the_next_one(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a SIGKILL midway, the next rename first puts back what the killed one changed."""
    clean = write_tree(tmp_path / "clean", FAKE)
    assert kill_rename(project, "SIGKILL").returncode == -signal.SIGKILL
    assert (project / JOURNAL).is_file()
    assert rename.main(["newname"]) == 0
    assert capsys.readouterr().err == f"rename: undid an unfinished rename ({JOURNAL} was left)\n"
    monkeypatch.chdir(clean)
    assert rename.main(["newname"]) == 0
    assert snapshot(project) == snapshot(clean)


@pytest.mark.parametrize("text", ["{not json", '{"source": "x"}', "[]"])
def test_rename_with_a_corrupt_template_record_says_so(
    project: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """A .template that is not the record rename writes is one line naming it, not a traceback."""
    write_tree(project, {".template": text})
    before = snapshot(project)
    assert rename.main(["newname"]) == 1
    assert capsys.readouterr().err == (
        "rename: .template is not a record of the template (JSON with source, commit, template_name, name): "
        "restore it with git checkout -- .template\n"
    )
    assert snapshot(project) == before


def test_make_rename_without_name_is_refused(project: Path) -> None:
    result = make(project, "rename")
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        2,
        "rename: no name given: run make rename NAME=<new name>, e.g. make rename NAME=billing",
    )


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_make_rename_takes_name_as_written(project: Path, tmp_path: Path, value: str) -> None:
    """A NAME holding shell or make code runs nothing: the script gets the text and refuses it as a name."""
    marker = tmp_path / "pwned"
    name = value.format(marker=marker)
    assert refuses_name_as_written(project, marker, "rename", name) == (
        2,
        f"rename: invalid name {name!r}: use a lowercase letter, then lowercase letters, digits or _",
    )


def test_make_rename_dry_run(project: Path) -> None:
    before = snapshot(project)
    result = make(project, "rename", "NAME=newname", "DRY_RUN=1")
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "would rename oldname to newname: files changed: 6, paths moved: 2",
    )
    assert snapshot(project) == before


def assert_renamed(root: Path, old: str) -> None:
    """No file or path below `root` names `old` as a word, in any case."""
    word = name_pattern(old)
    stale = [name for name, text in text_files(root).items() if word.search(text) or word.search(name)]
    assert stale == []


@pytest.mark.slow
def test_make_rename_of_a_copy_passes_its_tests_and_serves(tmp_path: Path) -> None:
    """The renamed service is the product: it passes its own tests and serves under its new name."""
    copy = copy_repo(tmp_path / "copy")
    [new] = free_names(copy, 1)
    result = make(copy, "rename", f"NAME={new}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"renamed {OLD} to {new}: files changed: ")
    assert_renamed(copy, OLD)
    tests = run_project_tests(copy)
    assert tests.returncode == 0, tests.stdout
    assert serve_json(copy, new, "/") == (200, "application/json", {})


@pytest.mark.slow
@pytest.mark.parametrize("length", [2, MAX_NAME_LENGTH])
def test_make_rename_leaves_the_code_formatted_and_lint_clean(tmp_path: Path, length: int) -> None:
    """Names shorter and longer than the current one: ruff has nothing to say after the rename."""
    copy = copy_repo(tmp_path / "copy")
    name = ("ab" + "_service" * 4)[:length]
    assert make(copy, "rename", f"NAME={name}").returncode == 0
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        checked = run([str(BIN / command[0]), *command[1:]], copy)
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.slow
def test_make_rename_twice(tmp_path: Path) -> None:
    """A renamed service renames again, by the name it has now."""
    copy = copy_repo(tmp_path / "copy")
    new, second = free_names(copy, 2)
    for name in (new, second):
        assert make(copy, "rename", f"NAME={name}").returncode == 0
    assert_renamed(copy, OLD)
    assert_renamed(copy, new)
    built = run([str(BIN / "python"), "-c", f"import {second}; print({second}.create_app().name)"], copy)
    assert (built.returncode, built.stdout) == (0, f"{second}\n"), built.stderr
