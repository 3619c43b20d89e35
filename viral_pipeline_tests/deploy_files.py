"""The files of deploy/ as tests read them: YAML documents, the Dockerfile's instructions, and the
command lines they give, with the facts of the repository they must agree with."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from viral_pipeline_tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
HELM_CELERY_VALUES = DEPLOY / "helm" / "values-celery.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
K8S_DIR = DEPLOY / "k8s"
# The one Secret every process reads its environment from.
APP_SECRET = "viral-pipeline-env"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def manifests(path: Path) -> list[dict[str, Any]]:
    """Every Kubernetes object in a multi-document YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def all_manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S_DIR.glob("*.yaml")) for doc in manifests(path)]


def of_kind(kind: str, name: str) -> dict[str, Any]:
    found = [
        doc for doc in all_manifests() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} in {K8S_DIR}"
    return found[0]


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


def workspace_location() -> dict[str, str]:
    """workspace.yaml's one code location: module_name, attribute, location_name."""
    (entry,) = load_yaml(REPO_ROOT / "workspace.yaml")["load_from"]
    location: dict[str, str] = entry["python_module"]
    return location


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str  # the rest of the logical line, continuations joined


def dockerfile_instructions(text: str) -> list[Instruction]:
    """A Dockerfile's instructions: comments dropped, backslash continuations joined (lines that
    are comments inside a continued instruction are dropped too, as Docker does)."""
    instructions = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The argument list of a CMD/ENTRYPOINT in exec (JSON) form."""
    parsed = yaml.safe_load(arguments)
    assert isinstance(parsed, list) and all(isinstance(item, str) for item in parsed), arguments
    return parsed


def shell_words(arguments: str) -> list[str]:
    return shlex.split(arguments)


def options(words: list[str]) -> set[str]:
    """The long and short options a command line uses (`--port`, `-m`), not their values."""
    return {word.split("=", 1)[0] for word in words if word.startswith("-") and word != "-"}
