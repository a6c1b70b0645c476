"""A real check of the per-step envs without conda: for each ``envs/<step>.yaml``, a fresh
virtualenv gets exactly the env's ``pip:`` section (the lock as constraints), then imports every
third-party module the step's scripts and their library modules import. A pin that cannot be
installed, or an import that fails, is reported with the env file and the package named.

    python -m tools.envinstall [STEP ...] [--keep DIR]      (make check-envs: every step)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .envfiles import REPO, step_imports


def pip_section(env_file: Path) -> list[str]:
    spec = yaml.safe_load(env_file.read_text())
    return [line for dep in spec.get("dependencies", []) if isinstance(dep, dict) for line in dep.get("pip", [])]


def _failed_package(output: str) -> str:
    """The requirement pip names when it cannot install one."""
    found = re.search(
        r"(?:No matching distribution found for|Could not find a version that satisfies the requirement) (\S+)", output
    )
    return found.group(1) if found else "a package (pip's output above)"


def check_env(env_file: Path, modules: set[str], workdir: Path, lock: Path = REPO / "requirements.lock") -> list[str]:
    """Problems installing and importing one env (empty: it installs and every import works)."""
    venv = workdir / env_file.stem
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    requirements = workdir / f"{env_file.stem}.txt"
    requirements.write_text("\n".join(pip_section(env_file)) + "\n")
    env = dict(os.environ, PIP_CONSTRAINT=str(lock), PIP_DISABLE_PIP_VERSION_CHECK="1")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        capture_output=True,
        text=True,
        env=env,
    )
    if install.returncode:
        tail = "\n".join(install.stderr.strip().splitlines()[-3:])
        return [f"{env_file.name}: pip cannot install {_failed_package(install.stderr)}\n{tail}"]
    problems = []
    for module in sorted(modules):
        # one process per module, so that one failure names its module and does not hide the next
        done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True, env=env)
        if done.returncode:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no message"
            problems.append(f"{env_file.name}: import {module} fails after installing the env ({last})")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("steps", nargs="*", help="env file stems (default: every env a rule uses)")
    parser.add_argument(
        "--keep", type=Path, help="build the virtualenvs here and keep them (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    imports = step_imports()
    steps = args.steps or sorted(imports)
    unknown = [s for s in steps if not (REPO / "envs" / f"{s}.yaml").exists()]
    if unknown:
        parser.error(f"no env file envs/<step>.yaml for {unknown}")
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        for step in steps:
            start = time.perf_counter()
            found = check_env(REPO / "envs" / f"{step}.yaml", imports.get(step, set()), workdir)
            print(
                f"{step}: {'FAILED' if found else 'ok'} ({len(pip_section(REPO / 'envs' / f'{step}.yaml'))} packages, {len(imports.get(step, ()))} imports, {time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            problems += found
    print("\n".join(problems) or "every env installs and imports")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
