"""requirements.lock pins what pyproject.toml asks for, and names no package index."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
    r"(?:\s*;\s*(?P<marker>[^\\\n]+))?",
    re.M,
)


def _all_pins() -> list[re.Match[str]]:
    return list(PIN.finditer(LOCK.read_text()))


def _pins() -> dict[str, str]:
    """The version of each package that this interpreter gets (a universal lock may pin a
    package once per Python range, each behind an environment marker)."""
    return {
        canonicalize_name(m["name"]): m["version"]
        for m in _all_pins()
        if not m["marker"] or Marker(m["marker"].strip()).evaluate()
    }


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return [Requirement(text) for text in requirements]


@pytest.mark.parametrize("requirement", _declared(), ids=str)
def test_every_declared_dependency_is_pinned_within_its_range(requirement):
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement} is not in requirements.lock: run scripts/lock"
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"requirements.lock pins {name}=={pins[name]}, outside {requirement}: run scripts/lock"
    )


def test_every_pin_has_a_hash_and_no_index_is_named():
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    assert len(blocks) == len(_all_pins()) > 0
    for block in blocks:
        assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"
    assert not re.search(r"--(extra-)?index-url|--find-links|://", text)
