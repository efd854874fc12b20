"""The package as a user installs it, not as `make` does (an editable install that hid a wheel
without `steps.kube`): the sdist and the wheel are built the way a release is (`python -m build`:
the sdist, then the wheel from that sdist), the wheel is installed with its dependencies into a
fresh virtual environment, and `runbook` is run from a directory outside the checkout with the
checkout nowhere on the import path. Last, `pip install .` of the tree, then `runbook validate
runbooks/*.yaml` in it, as the README tells a user.

The build works on a copy of the tree: setuptools writes `*.egg-info` and `build/` into the
folder it builds, and other tests (and people) use the checkout meanwhile. pip installs the
dependencies from the package index as configured on the machine (its cache keeps this to
about a minute).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT_FROM = ("pyproject.toml", "README.md", "runbook", "steps", "screens", "runbooks")
PIP_TIMEOUT = 600  # a cold pip cache on a slow link; warm, it takes well under a minute

pytestmark = pytest.mark.timeout(1200)

SMOKE = """\
runbook: 1
title: Installed package smoke
environments:
  sandbox:
    namespace: creatorbridge-sandbox
    context: sandbox
    values: {base_url: "http://127.0.0.1:${service.port}"}
services:
  - {name: api-gateway, port: 8080, health: /health}
phases:
  - id: smoke
    title: Smoke
    sections:
      - id: world
        title: The rehearsal world answers
        items:
          - {id: cluster, kind: check, title: Emulated cluster healthy, uses: k8s.cluster-health}
          - {id: pods, kind: check, title: Pods ready, uses: k8s.pods}
          - id: gateway
            kind: check
            title: Gateway healthy through the stand-in npm and the sandbox's smoke module
            uses: shell
            with: {argv: [npm, run, "test:smoke"]}
          - id: detached
            kind: action
            title: An action in a detached supervisor (python -m runbook _step)
            uses: shell
            with: {argv: [echo, from the detached supervisor]}
"""


@dataclass
class Installed:
    tree: Path  # the copy of the checkout that was built
    wheel: Path
    sdist: Path
    venv: Path
    elsewhere: Path  # a working directory outside any checkout
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, *argv: str | Path, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in argv], cwd=cwd or self.elsewhere, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def bundled(self) -> Path:
        p = self.run(self.bin / "python", "-c",
                     "from runbook.files.paths import bundled_dir; print(bundled_dir())")
        assert p.returncode == 0, p.stderr
        return Path(p.stdout.strip())


def pip_install(venv: Path) -> list[str]:
    """This environment's pip, installing into `venv`; no byte-compiling of the thousands of
    modules of the kubernetes client (a minute on a loaded machine; imports compile what they use)."""
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
            "--no-compile"]


def _checked(p: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    assert p.returncode == 0, f"{what} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def _clean_env(tmp: Path) -> dict[str, str]:
    """The caller's environment without anything that would put the checkout (or the project's
    own .venv) on the import path; state and temporary files in the test's folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV",
                        "PYTHONSAFEPATH", "PYTHONUSERBASE")}
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and p != venv_bin)
    env["PYTHONNOUSERSITE"] = "1"
    (tmp / "state").mkdir()
    (tmp / "tmp").mkdir()
    env["RUNBOOK_STATE_DIR"] = str(tmp / "state")
    env["TMPDIR"] = str(tmp / "tmp")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("wheel")
    env = _clean_env(tmp)
    tree = tmp / "tree"
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".*")
    for name in BUILT_FROM:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=junk)
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy2(src, tree / name)
    dist = tmp / "dist"
    _checked(subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(tree)],
                            env=env, cwd=tmp, capture_output=True, text=True,
                            timeout=PIP_TIMEOUT), "python -m build")
    wheel, = dist.glob("*.whl")
    sdist, = dist.glob("*.tar.gz")
    venv = tmp / "venv"
    # without a pip of its own (ensurepip takes long on a busy machine): this pip installs into it
    _checked(subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env,
                            cwd=tmp, capture_output=True, text=True, timeout=300), "python -m venv")
    _checked(subprocess.run([*pip_install(venv), str(wheel)], env=env, cwd=tmp,
                            capture_output=True, text=True, timeout=PIP_TIMEOUT),
             "pip install WHEEL")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    yield Installed(tree, wheel, sdist, venv, elsewhere, env)


def _expected_files() -> tuple[set[str], set[str]]:
    """What the checkout holds that an install needs: every package and every data file."""
    packages = {str(p.parent.relative_to(ROOT))
                for top in ("runbook", "steps", "screens") for p in (ROOT / top).rglob("__init__.py")}
    data = {str(p.relative_to(ROOT)) for p in (ROOT / "screens").rglob("*.tcss")}
    data |= {str(p.relative_to(ROOT)) for p in (ROOT / "runbooks").rglob("*.yaml")}
    return packages, data


def test_wheel_and_sdist_hold_every_package_and_data_file(installed: Installed) -> None:
    packages, data = _expected_files()
    assert {"steps/kube", "runbook/sandbox/kube", "runbook/cli", "screens/run"} <= packages
    assert {"screens/app.tcss", "runbooks/creatorbridge-deploy.yaml",
            "runbooks/examples/hello.yaml"} <= data
    in_wheel = set(zipfile.ZipFile(installed.wheel).namelist())
    with tarfile.open(installed.sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(top + "/") for n in tar.getnames()}
    for where, names in (("wheel", in_wheel), ("sdist", in_sdist)):
        missing = sorted(f"{p}/__init__.py" for p in packages if f"{p}/__init__.py" not in names)
        missing += sorted(d for d in data if d not in names)
        assert not missing, f"the {where} lacks: {', '.join(missing)}"
    assert installed.wheel.name.startswith("runbook_tui-")
    entry_points = next(n for n in in_wheel if n.endswith(".dist-info/entry_points.txt"))
    assert "runbook = runbook.cli.main:main" in zipfile.ZipFile(installed.wheel).read(
        entry_points).decode()


def test_the_installed_package_is_imported_not_the_checkout(installed: Installed) -> None:
    p = _checked(installed.run(installed.bin / "python", "-c",
                               "import runbook, steps, steps.kube, screens, runbook.sandbox.kube\n"
                               "for m in (runbook, steps, steps.kube, screens, runbook.sandbox.kube):"
                               " print(m.__file__)"), "import")
    venv = installed.venv.resolve()
    for line in p.stdout.split():
        assert Path(line).resolve().is_relative_to(venv), line
    assert installed.bundled().resolve().is_relative_to(venv)


def test_validate_the_bundled_runbooks_from_elsewhere(installed: Installed) -> None:
    bundled = installed.bundled()
    files = sorted(bundled.rglob("*.yaml"))
    assert {f.name for f in files} >= {"creatorbridge-deploy.yaml", "creatorbridge-rollback.yaml",
                                       "hello.yaml"}
    p = _checked(installed.run(installed.bin / "runbook", "validate", *files), "runbook validate")
    assert p.stdout.count("ok: ") == len(files), p.stdout


def test_rehearse_finds_the_bundled_runbook_from_elsewhere(installed: Installed) -> None:
    """With no terminal, the bundled deploy starts the world, refuses at its first item that
    needs a person (exit 3), and stops the world again."""
    p = installed.run(installed.bin / "runbook", "rehearse", "--headless", "--no-databases",
                      "--var", "NEW_VERSION=v1.2.3")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "need a person to confirm" in p.stderr
    assert "rehearsal world stopped" in p.stderr
    assert "Traceback" not in p.stdout + p.stderr


def test_headless_sandbox_smoke_run(installed: Installed) -> None:
    """A runbook of automated items rehearsed to the end: the Kubernetes emulator, the health
    stand-ins, the stand-in npm (`python -m runbook.sandbox.smoke`) and a detached supervisor
    (`python -m runbook _step`), all from the installed package; the world is gone afterwards."""
    smoke = installed.elsewhere / "smoke.yaml"
    smoke.write_text(SMOKE)
    p = installed.run(installed.bin / "runbook", "rehearse", "--runbook", smoke.name,
                      "--headless", "--no-databases")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "smoke: 1 of 1 checks passed" in p.stdout
    assert "from the detached supervisor" in p.stdout
    assert "completed" in p.stdout and "rehearsal world stopped" in p.stderr
    left = sorted(Path(installed.env["TMPDIR"]).glob("runbook-sandbox-*"))
    assert not left, f"the rehearsal left {left}"


def test_pip_install_dot_then_validate(installed: Installed) -> None:
    """The README's way: `pip install .` of the tree, then `runbook validate runbooks/*.yaml`
    in it (--no-deps: the wheel's install above brought the dependencies already)."""
    _checked(installed.run(*pip_install(installed.venv), "--no-deps", "--force-reinstall", ".",
                           cwd=installed.tree, timeout=PIP_TIMEOUT), "pip install .")
    files = sorted(str(f.relative_to(installed.tree))
                   for f in (installed.tree / "runbooks").glob("*.yaml"))
    assert files == ["runbooks/creatorbridge-deploy.yaml", "runbooks/creatorbridge-rollback.yaml"]
    p = _checked(installed.run(installed.bin / "runbook", "validate", *files, cwd=installed.tree),
                 "runbook validate runbooks/*.yaml")
    assert p.stdout.count("ok: ") == 2, p.stdout
