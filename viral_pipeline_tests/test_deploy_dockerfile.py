"""deploy/Dockerfile builds the package the README installs: from uv.lock, `--locked`, on the
Python pyproject.toml requires, serving the code location workspace.yaml names, as a user other
than root. No Docker engine runs here, so the file is read, not built."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from pathlib import PurePosixPath

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from viral_pipeline_tests.conftest import REPO_ROOT
from viral_pipeline_tests.deploy_files import (
    DOCKERFILE,
    DOCKERIGNORE,
    Instruction,
    dockerfile_instructions,
    exec_form,
    options,
    shell_words,
    workspace_location,
)

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def instructions(keyword: str) -> list[Instruction]:
    return [i for i in dockerfile_instructions(DOCKERFILE.read_text()) if i.keyword == keyword]


def run_commands() -> list[list[str]]:
    """Each command of each RUN, split at && (words as the shell would see them)."""
    commands: list[list[str]] = []
    for run in instructions("RUN"):
        command: list[str] = []
        for word in shell_words(run.arguments):
            if word == "&&":
                commands.append(command)
                command = []
            else:
                command.append(word)
        commands.append(command)
    return commands


def uv_syncs() -> list[list[str]]:
    return [words[words.index("uv") :] for words in run_commands() if words[:2] == ["uv", "sync"]]


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    parsed = dockerfile_instructions(
        '# a comment\nFROM python:3.11-slim\nRUN a \\\n    # inside\n    && b\nCMD ["x", "y"]\n'
    )
    assert parsed == [
        Instruction("FROM", "python:3.11-slim"),
        Instruction("RUN", "a && b"),
        Instruction("CMD", '["x", "y"]'),
    ]


def test_the_base_image_runs_the_python_pyproject_requires() -> None:
    (base,) = instructions("FROM")
    image, _, tag = base.arguments.partition(":")
    assert image == "python" and tag.endswith("-slim"), base.arguments
    version = re.fullmatch(r"(\d+\.\d+)-slim", tag)
    assert version, tag
    required = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert Version(version.group(1)) in required
    # The interpreter the sync is pointed at is that same one.
    for sync in uv_syncs():
        assert sync[sync.index("--python") + 1] == f"/usr/local/bin/python{version.group(1)}"


def test_the_image_installs_from_the_lock_like_the_readme() -> None:
    syncs = uv_syncs()
    assert syncs, "no `uv sync` in the Dockerfile"
    for sync in syncs:
        # --locked: a lock that no longer matches pyproject.toml fails the build.
        assert "--locked" in sync, sync
        # Only the runtime dependencies: no `--extra dev` (tests, linters).
        assert "--extra" not in sync and "--all-extras" not in sync, sync
    # The project itself is installed by the last sync, from the copied source.
    assert "--no-install-project" not in syncs[-1]
    # No hand-typed package list: pip installs uv alone, at the version uv.lock names.
    pips = [words for words in run_commands() if words[:2] == ["pip", "install"]]
    assert [[w for w in pip if not w.startswith("-")] for pip in pips] == [
        ["pip", "install", "uv==${UV_VERSION}"]
    ]
    (uv_version,) = [a.arguments for a in instructions("ARG") if a.arguments.startswith("UV_")]
    assert uv_version == f"UV_VERSION={locked_version('uv')}"


def locked_version(package: str) -> str:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    (version,) = [entry["version"] for entry in lock["package"] if entry["name"] == package]
    return str(version)


def test_the_uv_flags_are_ones_uv_accepts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uv", "sync", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for sync in uv_syncs():
        assert options(sync) <= set(re.findall(r"--[a-z][a-z-]+", done.stdout)), sync


def test_every_file_it_copies_exists_and_holds_the_package() -> None:
    copied = []
    for copy in instructions("COPY"):
        *sources, _destination = shell_words(copy.arguments)
        copied += [s for s in sources if not s.startswith("--")]
    for source in copied:
        assert (REPO_ROOT / source).exists(), source
    # What the build needs: the lock, the project's metadata (and its readme), the package.
    assert {"pyproject.toml", "uv.lock", PYPROJECT["project"]["readme"], "viral_pipeline"} <= set(
        copied
    )


def test_the_default_command_serves_the_code_location_of_workspace_yaml() -> None:
    (cmd,) = instructions("CMD")
    words = exec_form(cmd.arguments)
    location = workspace_location()
    assert words[:3] == ["dagster", "api", "grpc"]
    assert words[words.index("-m") + 1] == location["module_name"]
    assert words[words.index("-a") + 1] == location["attribute"]
    assert words[words.index("-h") + 1] == "0.0.0.0"
    port = words[words.index("-p") + 1]
    (expose,) = instructions("EXPOSE")
    assert expose.arguments == port
    assert location["module_name"] == PYPROJECT["tool"]["dagster"]["module_name"]


def test_it_runs_as_a_user_other_than_root() -> None:
    keywords = [i.keyword for i in dockerfile_instructions(DOCKERFILE.read_text())]
    users = instructions("USER")
    assert users, "no USER: the image would run as root"
    assert users[-1].arguments.split(":")[0] not in ("root", "0")
    # Nothing after the last USER runs as root again (no RUN), and the command comes after it.
    after = keywords[len(keywords) - 1 - keywords[::-1].index("USER") :]
    assert "RUN" not in after and "CMD" in after


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):  # at any depth
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


@pytest.mark.parametrize(
    "local_state", [".venv", "data", "mlflow", ".dagster_home", ".env", ".run", ".git"]
)
def test_dockerignore_keeps_local_state_and_secrets_out(local_state: str) -> None:
    assert ignored(f"{local_state}/anything")


def test_dockerignore_keeps_what_the_image_copies() -> None:
    # The package's own data (viral_pipeline/data: the bundled set) is not the root data/.
    for path in ("pyproject.toml", "uv.lock", "README.md", "viral_pipeline/data/README.md"):
        assert not ignored(path), path
    assert ignored("viral_pipeline/api/__pycache__/app.cpython-311.pyc")
