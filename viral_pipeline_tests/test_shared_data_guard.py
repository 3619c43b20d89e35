"""The real Apify payloads in `../shared` are reached only through conftest's `shared_apify_dir`
fixture, so a clone without `../shared` skips those tests with a clear reason (and CI fails them).

A test that built the path itself would crash on such a clone, or pass by reading nothing; the
scan below fails as soon as one does, and the subprocess runs show what the README's test command
does on a clone without the folder.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from viral_pipeline_tests.conftest import REPO_ROOT, SHARED_DIR_ENV, SHARED_MISSING

TESTS_DIR = REPO_ROOT / "viral_pipeline_tests"
FIXTURE = "shared_apify_dir"
# Every fixture that hands out a file of the folder; only they may reach it.
FIXTURES = frozenset({FIXTURE, "dagster_helm_schema"})
# conftest's own names for the folder: only the fixtures may use them.
CONFTEST_NAMES = frozenset(
    {"SHARED_DIR", "SHARED_APIFY_DIR", "SHARED_HELM_SCHEMA", "SHARED_DIR_ENV", "SHARED_MISSING"}
)
_SHARED_SEGMENT = re.compile(r"(?:^|[/\\])shared(?:[/\\]|$)")  # "shared", "../shared", "x/shared/y"


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _is_conftest_definition(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.FunctionDef):
        return statement.name in FIXTURES
    return isinstance(statement, ast.Assign) and all(
        isinstance(target, ast.Name) and target.id in CONFTEST_NAMES for target in statement.targets
    )


def bypasses(source: str, is_conftest: bool = False) -> list[str]:
    """Each place in `source` that reaches the shared folder other than through the fixture."""
    tree = ast.parse(source)
    if is_conftest:  # the definitions and the fixture itself are the guard
        tree.body = [statement for statement in tree.body if not _is_conftest_definition(statement)]
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in CONFTEST_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in CONFTEST_NAMES:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.alias) and node.name in CONFTEST_NAMES:
            found.append(f"line {node.lineno}: import of {node.name}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            text = node.value
            if _SHARED_SEGMENT.search(text) or text in CONFTEST_NAMES or "VIRAL_SHARED_DIR" in text:
                found.append(f"line {node.lineno}: {text!r}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        "from viral_pipeline_tests.conftest import SHARED_APIFY_DIR",
        "import viral_pipeline_tests.conftest as c\nc.SHARED_APIFY_DIR / 'x.json'",
        "from pathlib import Path\nPath('../shared/data/apify/clockworks_item.json').read_text()",
        "ROOT = Path(__file__).parent.parent\nITEMS = ROOT.parent / 'shared' / 'data' / 'apify'",
        "path = f'{root}/../shared/data/apify/legacy_items.json'",
        "import os\nos.environ['VIRAL_SHARED_DIR']",
        "def test_x(monkeypatch):\n    '''A docstring.'''\n    monkeypatch.setenv(SHARED_DIR_ENV, '/nowhere')",
    ],
)
def test_the_scan_catches_every_way_round_the_fixture(source: str) -> None:
    assert bypasses(source)


def test_the_scan_allows_the_fixture_and_prose_about_the_folder() -> None:
    source = '''"""Parsing real scraper output (every file in ../shared/data/apify)."""
import json

def test_item(shared_apify_dir):
    """Reads ../shared through the fixture."""
    rows = json.loads((shared_apify_dir / "clockworks_item.json").read_text())
    assert rows, "shared by both backends"
    assert "shared_sound" in {"shared_sound": 1}
'''
    assert bypasses(source) == []


def test_conftest_keeps_the_folder_to_its_fixture() -> None:
    conftest = (TESTS_DIR / "conftest.py").read_text()
    assert bypasses(conftest, is_conftest=True) == []
    # Outside the fixture, conftest may not use the folder either.
    leaked = bypasses(conftest + "\nLEAK = SHARED_APIFY_DIR / 'x.json'\n", is_conftest=True)
    assert len(leaked) == 1 and leaked[0].endswith(": SHARED_APIFY_DIR")


def test_no_test_module_reaches_the_shared_folder_but_through_the_fixture() -> None:
    this_file = Path(__file__).resolve()
    offenders = {}
    for path in sorted(TESTS_DIR.rglob("*.py")):
        if path.resolve() == this_file:  # the guard names what it looks for
            continue
        found = bypasses(path.read_text(), is_conftest=path.name == "conftest.py")
        if found:
            offenders[str(path.relative_to(REPO_ROOT))] = found
    assert offenders == {}, f"use the {FIXTURE} fixture instead: {offenders}"


# ---- A clone without ../shared -----------------------------------------------------------


def _pytest(
    tmp_path: Path, *args: str, ci: bool
) -> tuple[subprocess.CompletedProcess[str], list[ET.Element]]:
    """Run pytest as the README's test command does, with `shared` moved to a missing folder."""
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    env[SHARED_DIR_ENV] = str(tmp_path / "no-shared")
    if ci:
        env["CI"] = "true"
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *args,
            "-m",
            "shared_data",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return done, list(ET.parse(report).getroot().iter("testcase"))


def test_a_clone_without_shared_collects_everything_and_skips_the_shared_tests(
    tmp_path: Path,
) -> None:
    # The whole suite is collected (a module reading ../shared at import would be an error here),
    # but only the tests marked shared_data (those using the fixture) are run.
    done, cases = _pytest(tmp_path, "viral_pipeline_tests", ci=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(cases) >= 10, done.stdout[-3000:]
    for case in cases:
        skipped = case.find("skipped")
        assert skipped is not None, f"{case.get('name')} was not skipped"
        assert SHARED_MISSING in skipped.get("message", "") and "no-shared" in skipped.get(
            "message", ""
        )
    assert {case.get("classname").rsplit(".", 1)[-1] for case in cases} >= {
        "test_items",
        "test_profiles",
        "test_simulated_source",
        "test_gate",
    }


def test_under_ci_a_missing_shared_folder_fails_the_shared_tests(tmp_path: Path) -> None:
    done, cases = _pytest(tmp_path, "viral_pipeline_tests/test_simulated_source.py", ci=True)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert cases
    for case in cases:
        error = case.find("error")
        assert error is not None, f"{case.get('name')} did not fail"
        assert SHARED_MISSING in error.get("message", "") and "CI is set" in error.get(
            "message", ""
        )
