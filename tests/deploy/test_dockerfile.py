"""The application Dockerfile, checked without Docker."""

from __future__ import annotations

import json
import re
import tomllib

from .deploy_support import ROOT, dockerfile_stages


def test_is_multi_stage_with_a_builder_and_a_runtime():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    names = [name for name, _ in stages]
    assert all(names) and len(set(names)) == len(names), names


def test_base_images_are_pinned():
    text = (ROOT / "Dockerfile").read_text()
    default = re.search(r"ARG PYTHON_IMAGE=(\S+)", text)
    assert default and re.fullmatch(r"python:3\.1[1-3]\.\d+-slim-\w+", default.group(1)), "pin the patch version"
    for name, lines in dockerfile_stages():
        image = lines[0].split()[1]
        assert image == "${PYTHON_IMAGE}" or (":" in image and not image.endswith(":latest")), (name, image)


def test_torch_is_the_pinned_cpu_build():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = next(d for d in pyproject["project"]["dependencies"] if d.startswith("torch"))
    builder = dockerfile_stages()[0][1]
    installs = [line for line in builder if "torch" in line and "pip install" in line]
    assert installs, "torch is not installed explicitly"
    line = installs[0]
    assert "--index-url https://download.pytorch.org/whl/cpu" in line
    assert "torch==2.13.0" in line and pinned.replace(" ", "") == "torch==2.13.0"
    # Installed before the package, so `pip install .` finds it and pulls no CUDA build.
    package_install = next(i for i, l in enumerate(builder) if re.search(r"pip install [^&]*\s\.(\s|$)", l))
    assert builder.index(line) < package_install
    assert not any("pip install -e" in l or "--editable" in l for l in builder)


def test_runtime_is_non_root_and_gets_only_the_venv():
    name, runtime = dockerfile_stages()[-1]
    users = [l.split()[1] for l in runtime if l.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    copies = [l for l in runtime if l.upper().startswith(("COPY ", "ADD "))]
    builder = dockerfile_stages()[0][0]
    assert copies == [f"COPY --from={builder} /opt/venv /opt/venv"], copies
    entry = [l for l in runtime if l.upper().startswith("ENTRYPOINT ")]
    assert entry and json.loads(entry[-1].split(None, 1)[1]) == ["vitalstream"]


def test_every_package_is_copied_into_the_build():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    builder = dockerfile_stages()[0][1]
    copied = {l.split()[1].strip("./") for l in builder if l.upper().startswith("COPY ")}
    assert wanted <= copied, sorted(wanted - copied)
    assert "pyproject.toml" in " ".join(l for l in builder if l.startswith("COPY "))


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "deploy/*", "!deploy/constraints.txt"} <= ignored


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_dependencies_install_at_the_tested_versions():
    builder = dockerfile_stages()[0][1]
    install = next(l for l in builder if re.search(r"pip install [^&]*\s\.(\s|$)", l))
    assert "--constraint /tmp/constraints.txt" in install
    assert "COPY deploy/constraints.txt /tmp/constraints.txt" in builder
    lines = [l for l in (ROOT / "deploy" / "constraints.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", l) for l in lines), "exact pins only"
    pinned = {_name(l) for l in lines}
    assert "torch" not in pinned  # the CPU build comes from its own index, pinned in the Dockerfile
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    direct = {_name(d) for d in pyproject["project"]["dependencies"]} - {"torch"}
    assert direct <= pinned, sorted(direct - pinned)
