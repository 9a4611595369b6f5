"""`make update-template` (scripts/update_template.py): template changes replayed onto a renamed service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import rename, update_template
from scripts.origin import ORIGIN, git
from scripts.project import current_name

from .helpers import (
    HOSTILE_VALUES,
    REPO,
    copy_repo,
    free_names,
    make,
    run_project_tests,
    snapshot,
    text_files,
    write_tree,
)

TEMPLATE = {
    "oldname/__init__.py": "",
    "oldname/app.py": 'NAME = "oldname"\n',
    "oldname/errors.py": 'def handle() -> str:\n    return "oldname brken"\n',
    "README.md": "# Oldname\n\nAbout.\n\nMore.\n",
    "settings.yml": "LOG_LEVEL: INFO\n",
    "docs/guide.md": "Guide\n\none\n\ntwo\n\nthree\n\nfour\n\nfive\n",
    "old.txt": "to delete\n",
}


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits without the developer's git configuration."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def commit(root: Path, files: dict[str, str] | None = None, delete: tuple[str, ...] = ()) -> str:
    """Write `files`, delete `delete`, commit everything in `root`, and return the commit."""
    write_tree(root, files or {})
    for name in delete:
        (root / name).unlink()
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "change")
    return git(root, "rev-parse", "HEAD")


@pytest.fixture(name="template")
def _template(tmp_path: Path) -> Path:
    """A template repository whose package is `oldname`."""
    root = write_tree(tmp_path / "template", TEMPLATE)
    git(root, "init", "--quiet", "--initial-branch", "main")
    commit(root)
    return root


@pytest.fixture(name="service")
def _service(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone of the template renamed to `newname` and committed, as the current folder."""
    git(tmp_path, "clone", "--quiet", str(template), "service")
    root = tmp_path / "service"
    monkeypatch.chdir(root)
    assert rename.main(["newname"]) == 0
    commit(root)
    return root


def test_rename_records_the_origin(template: Path, service: Path) -> None:
    recorded = json.loads((service / ".template").read_text())
    head = git(template, "rev-parse", "HEAD")
    assert recorded == {"source": str(template), "commit": head, "template_name": "oldname", "name": "newname"}
    assert rename.main(["othername"]) == 0
    assert json.loads((service / ".template").read_text()) == {**recorded, "name": "othername"}


def test_update_replays_renamed_changes_and_keeps_local_ones(
    template: Path, service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(
        service,
        {"README.md": "# Newname\n\nAbout.\n\nMore, by us.\n", "docs/guide.md": TEMPLATE["docs/guide.md"] + "ours\n"},
    )
    git(template, "mv", "docs/guide.md", "docs/manual.md")
    fixed = 'def handle() -> str:\n    return "oldname fixed"\n'
    guide = TEMPLATE["docs/guide.md"].replace("one", "ONE")
    new = commit(
        template,
        {
            "oldname/errors.py": fixed,
            "settings.yml": "LOG_LEVEL: DEBUG\n",
            "docs/manual.md": guide,
            "docs/new.md": "OLDNAME_DEBUG\n",
        },
        delete=("old.txt",),
    )
    assert update_template.main([]) == 0
    files = text_files(service)
    assert files["newname/errors.py"] == fixed.replace("oldname", "newname")
    assert (files["settings.yml"], files["docs/new.md"]) == ("LOG_LEVEL: DEBUG\n", "NEWNAME_DEBUG\n")
    assert files["docs/manual.md"] == guide + "ours\n"
    assert files["README.md"] == "# Newname\n\nAbout.\n\nMore, by us.\n"
    assert not (service / "old.txt").exists()
    assert not (service / "docs/guide.md").exists()
    assert json.loads(files[".template"])["commit"] == new
    assert capsys.readouterr().out.splitlines() == [
        "merge docs/guide.md -> docs/manual.md",
        "add docs/new.md",
        "update newname/errors.py",
        "delete old.txt",
        "update settings.yml",
        f"updated from template {git(template, 'rev-parse', 'HEAD~1')[:7]} to {new[:7]}",
    ]


def test_conflict_leaves_markers_in_that_file_only(
    template: Path, service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(service, {"README.md": "# Newname, ours\n\nAbout.\n\nMore.\n"})
    commit(template, {"README.md": "# Oldname, theirs\n\nAbout.\n\nMore.\n", "settings.yml": "LOG_LEVEL: ERROR\n"})
    assert update_template.main([]) == 1
    assert capsys.readouterr().err == "update-template: conflicts in README.md: resolve them, then commit\n"
    readme = (service / "README.md").read_text()
    assert readme.startswith("<<<<<<< README.md (this service)\n# Newname, ours\n=======\n# Newname, theirs\n>>>>>>>")
    assert (service / "settings.yml").read_text() == "LOG_LEVEL: ERROR\n"
    assert [name for name, text in text_files(service).items() if "<<<<<<<" in text] == ["README.md"]
    assert json.loads((service / ".template").read_text())["commit"] == git(template, "rev-parse", "HEAD")
    commit(service, {"README.md": "# Newname, both\n\nAbout.\n\nMore.\n"})
    assert update_template.main([]) == 0  # resolved and committed: nothing left to bring in
    assert capsys.readouterr().out.splitlines() == [
        f"updated from template {git(template, 'rev-parse', 'HEAD')[:7]} to {git(template, 'rev-parse', 'HEAD')[:7]}"
    ]


def test_source_is_used_once_and_not_recorded(template: Path, service: Path, tmp_path: Path) -> None:
    """SOURCE= names where to fetch from this time; .template keeps the recorded source."""
    git(tmp_path, "clone", "--quiet", str(template), "mirror")
    head = commit(tmp_path / "mirror", {"settings.yml": "LOG_LEVEL: ERROR\n"})  # the mirror alone has it
    recorded = json.loads((service / ".template").read_text())
    assert update_template.main(["--source", str(tmp_path / "mirror")]) == 0
    assert (service / "settings.yml").read_text() == "LOG_LEVEL: ERROR\n"
    assert json.loads((service / ".template").read_text()) == {**recorded, "commit": head}


def test_dry_run_lists_and_changes_nothing(template: Path, service: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(template, {"settings.yml": "LOG_LEVEL: ERROR\n"})
    before = snapshot(service)
    assert update_template.main(["--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "would update settings.yml"
    assert snapshot(service) == before


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("dirty", [], "the working tree has uncommitted changes: commit or stash them first"),
        ("none", ["--ref", "no-such-branch"], "unknown ref 'no-such-branch' in the template"),
        (
            "no origin",
            [],
            "no recorded origin: .template is missing (make rename writes it in a git clone of the template)",
        ),
    ],
)
def test_update_refuses(
    service: Path, capsys: pytest.CaptureFixture[str], setup: str, args: list[str], message: str
) -> None:
    if setup == "dirty":
        (service / "README.md").write_text("edited\n")
    if setup == "no origin":
        commit(service, delete=(".template",))
    before = snapshot(service)
    assert update_template.main(args) == 1
    assert capsys.readouterr().err == f"update-template: {message}\n"
    assert snapshot(service) == before


@pytest.mark.parametrize("variable", ["SOURCE", "REF"])
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_make_update_template_takes_values_as_written(service: Path, tmp_path: Path, variable: str, value: str) -> None:
    """SOURCE or REF holding shell or make code runs nothing: the script gets the text and refuses it."""
    marker = tmp_path / "pwned"
    text = value.format(marker=marker)
    before = snapshot(service)
    result = make(service, "update-template", f"{variable}={text}")
    assert not marker.exists()
    if variable == "REF":
        message = f"unknown ref {text!r} in the template"
    elif text.isprintable():
        message = f"fatal: repository '{text}' does not exist"  # git's own message: tried as a path
    else:
        message = f"invalid source {text!r}: expected a git URL or path"
    assert (result.returncode, result.stderr.splitlines()[0]) == (2, f"update-template: {message}")
    assert snapshot(service) == before


@pytest.mark.slow
def test_make_update_template_on_a_renamed_copy_of_this_repo(tmp_path: Path) -> None:
    """This repo as a template: a renamed clone takes its later changes, renamed, and stays green."""
    template = copy_repo(tmp_path / "template")
    (template / ORIGIN).unlink(missing_ok=True)  # this repo may itself be a renamed service
    git(template, "init", "--quiet", "--initial-branch", "main")
    commit(template)
    git(tmp_path, "clone", "--quiet", str(template), "service")
    service, old, [new] = tmp_path / "service", current_name(REPO), free_names(template, 1)
    assert make(service, "rename", f"NAME={new}").returncode == 0
    commit(service, {"NOTES.md": "ours\n"})
    settings = (template / "settings.yml").read_text() + "# template fix\n"
    # Appended, not replaced: an edit that finds nothing to replace would test nothing.
    app = (template / old / "app.py").read_text() + f"# {old}: a template fix\n"
    commit(
        template,
        {"settings.yml": settings, f"{old}/app.py": app, "deploy/app.env": f"QUART_APP={old}\n"},
        delete=(".ci/run",),
    )
    result = make(service, "update-template")
    assert result.returncode == 0, result.stderr
    assert (service / "settings.yml").read_text() == settings
    assert (service / new / "app.py").read_text().endswith(f"# {new}: a template fix\n")
    assert (service / "deploy/app.env").read_text() == f"QUART_APP={new}\n"
    assert not (service / ".ci/run").exists()
    assert (service / "NOTES.md").read_text() == "ours\n"
    tests = run_project_tests(service)
    assert tests.returncode == 0, tests.stdout
