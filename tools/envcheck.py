"""Static checks of the per-step conda environments (conda channels cannot be reached in CI).

For every rule: it names a conda env and a script; the env lists (pinned) every third-party package
that the script and the stpath modules it imports, transitively, import; and each pin agrees with
requirements.lock, the lock of the plain-virtualenv run mode. (``envfiles`` writes the env files;
``envinstall`` installs each for real.)
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name

# import name -> PyPI distribution, where they differ
PIP_NAME = {
    "PIL": "pillow",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "openslide": "openslide-python",
    "scvi": "scvi-tools",
}
# the conda packages of an env: the interpreter and its installer, not in the lock
NOT_IN_LOCK = {"python", "pip"}
# the only channels an env may use (no anaconda defaults: reproducible and licence-free)
CHANNELS = {"conda-forge", "bioconda", "nodefaults"}


@dataclass
class Rule:
    name: str
    file: Path
    conda: Path | None
    script: Path | None
    has_log: bool
    has_benchmark: bool
    cached: bool = False  # Snakemake forbids benchmark: on a rule eligible for caching


def parse_rules(rules_dir: Path) -> list[Rule]:
    rules = []
    for smk in sorted(rules_dir.glob("*.smk")):
        text = smk.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^\s*rule (\w+):", text, re.M)]
        for i, (pos, name) in enumerate(starts):
            block = text[pos : starts[i + 1][0] if i + 1 < len(starts) else len(text)]
            conda = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", block)
            script = re.search(r"script:\s*\n\s*\"([^\"]+)\"", block)
            rules.append(
                Rule(
                    name,
                    smk,
                    (smk.parent / conda.group(1)).resolve() if conda else None,
                    (smk.parent / script.group(1)).resolve() if script else None,
                    "log:" in block,
                    "benchmark:" in block,
                    re.search(r"^\s*cache:", block, re.M) is not None,
                )
            )
    return rules


def third_party_imports(script: Path, package_root: Path) -> set[str]:
    """Top-level third-party modules imported by ``script`` and, transitively, by stpath modules."""
    stdlib = set(sys.stdlib_module_names)
    seen: set[Path] = set()
    found: set[str] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import inside stpath
                    base = path.parent
                    for _ in range(node.level - 1):
                        base = base.parent
                    mod = base.joinpath(*(node.module or "").split(".")) if node.module else base
                    todo += _module_files(mod, [a.name for a in node.names])
                    continue
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top == "stpath":
                    members = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
                    parts = name.split(".")
                    todo += _module_files(package_root.parent.joinpath(*parts), members)
                    # importing a submodule runs every enclosing package's __init__ first
                    todo += [package_root.parent.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts))]
                elif top and top not in stdlib and top != "snakemake":
                    found.add(top)
    return found


def _module_files(mod: Path, members: list[str]) -> list[Path]:
    files = [mod.with_suffix(".py"), mod / "__init__.py"]
    files += [mod / f"{m}.py" for m in members] + [(mod / m / "__init__.py") for m in members]
    return [f for f in files if f.exists()]


def env_packages(env_file: Path) -> dict[str, str | None]:
    spec = yaml.safe_load(env_file.read_text())
    out = {}
    for dep in spec.get("dependencies", []):
        if isinstance(dep, str):
            name, _, version = dep.partition("=")
            out[canonicalize_name(name.strip())] = version.lstrip("=") or None
        elif isinstance(dep, dict):  # packages that only PyPI has, installed by conda's pip
            for line in dep.get("pip", []):
                name, _, version = line.partition("==")
                out[canonicalize_name(name.strip())] = version.strip() or None
    return out


def read_lock(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def check_env_file(env_file: Path) -> list[str]:
    """Valid YAML, only conda-forge/bioconda channels (defaults excluded), every package pinned."""
    try:
        spec = yaml.safe_load(env_file.read_text())
    except yaml.YAMLError as exc:
        return [f"{env_file.name}: not valid YAML ({exc})"]
    if not isinstance(spec, dict) or not spec.get("dependencies"):
        return [f"{env_file.name}: no dependencies list"]
    channels = spec.get("channels") or []
    problems = [f"{env_file.name}: channel {c!r} is not conda-forge or bioconda" for c in channels if c not in CHANNELS]
    if "conda-forge" not in channels or "nodefaults" not in channels:
        problems.append(f"{env_file.name}: channels must include conda-forge and nodefaults (found {channels})")
    return problems


def check(repo: Path) -> list[str]:
    """All problems found, as readable lines; empty when every env is consistent."""
    problems = [p for env in sorted((repo / "envs").glob("*.yaml")) for p in check_env_file(env)]
    lock = read_lock(repo / "requirements.lock")
    for rule in parse_rules(repo / "workflow" / "rules"):
        where = f"rule {rule.name} ({rule.file.name})"
        if not rule.has_log:
            problems.append(f"{where}: no log: directive")
        if not rule.has_benchmark and not rule.cached:
            problems.append(f"{where}: no benchmark: directive")
        if rule.conda is None or not rule.conda.exists():
            problems.append(f"{where}: no conda env file ({rule.conda})")
            continue
        pkgs = env_packages(rule.conda)
        for name, version in pkgs.items():
            if version is None:
                problems.append(f"{rule.conda.name}: {name} is not pinned")
            elif name not in NOT_IN_LOCK and lock.get(name) != version:
                locked = lock.get(name)
                problems.append(f"{rule.conda.name}: {name}={version} but requirements.lock has {locked}")
        if rule.script is None:
            continue
        for module in sorted(third_party_imports(rule.script, repo / "stpath")):
            dist = canonicalize_name(PIP_NAME.get(module, module))
            if dist not in pkgs:
                problems.append(f"{where}: {rule.script.name} imports {module!r} but {rule.conda.name} lacks {dist}")
    return problems
