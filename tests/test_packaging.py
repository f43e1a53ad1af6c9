"""The install files agree with each other, and the README's two commands exist."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names for PyPI distributions whose names differ
CONDA_NAMES = {"torch": "pytorch"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _environment_entries() -> dict[str, str]:
    entries = {}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text[text.index("dependencies:"):]  # skip the channels list
    for line in dependencies.splitlines():
        line = line.split("#")[0].strip()
        if not line.startswith("- ") or line.endswith(":"):
            continue
        item = line[2:].strip()
        if item.startswith("-e") or item == "pip":
            continue
        name, spec = _split(item)
        entries[name] = spec
    return entries


def test_runtime_dependencies_match_environment_yml():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = _environment_entries()
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    for requirement in wanted:
        name, spec = _split(requirement)
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in env, f"{name} is in pyproject.toml but not in environment.yml"
        assert env[conda_name] == spec, (
            f"{name}: pyproject.toml says {spec!r}, environment.yml says {env[conda_name]!r}")
    pyproject_names = {CONDA_NAMES.get(_split(r)[0], _split(r)[0]) for r in wanted}
    extra = set(env) - pyproject_names - {"python"}
    assert not extra, f"environment.yml lists {extra}, which pyproject.toml does not"


def test_setuptools_is_capped_for_openai_clip():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("openai-clip") for d in project["dependencies"])
    assert "setuptools>=61,<81" in project["dependencies"]


def test_torch_range_admits_the_local_wheels():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = dict(_split(d) for d in project["dependencies"])
    assert specs["torch"] == ">=2.4,<=2.14.1"  # fused AdamW in clipcourse.train needs 2.4
    assert specs["torchvision"] == ">=0.19,<=0.29.1"


def test_readme_shows_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    first_code = readme[readme.index("```"):]
    first_block = first_code[: first_code.index("```", 3)]
    assert "make lab" in first_block and "make test" in first_block
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
