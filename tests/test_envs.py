import yaml

from tools import envcheck

from conftest import REPO


def test_every_rule_has_env_log_benchmark_and_covered_imports():
    assert envcheck.check(REPO) == []


def test_checker_catches_a_missing_package(tmp_path):
    """The check can fail: drop scanpy from a copy of the ingest env."""
    import shutil

    repo = tmp_path / "repo"
    for part in ("workflow", "envs", "stpath"):
        shutil.copytree(REPO / part, repo / part)
    shutil.copy(REPO / "requirements.lock", repo)
    env = repo / "envs" / "ingest.yaml"
    env.write_text("\n".join(line for line in env.read_text().splitlines() if "scanpy" not in line) + "\n")
    lock = repo / "requirements.lock"
    lock.write_text(lock.read_text().replace("numpy==", "numpy==0.0.0+"))
    demo = repo / "envs" / "demo.yaml"
    demo.write_text(demo.read_text().replace("  - nodefaults", "  - defaults"))
    (repo / "envs" / "broken.yaml").write_text("dependencies: [numpy\n")
    problems = envcheck.check(repo)
    assert "demo.yaml: channel 'defaults' is not conda-forge or bioconda" in problems
    assert any(p.startswith("broken.yaml: not valid YAML") for p in problems)
    assert any("imports 'scanpy' but ingest.yaml lacks scanpy" in p for p in problems)
    assert any("numpy=" in p and "requirements.lock" in p for p in problems)


def test_scripts_reach_third_party_imports_through_the_library():
    imports = envcheck.third_party_imports(REPO / "workflow" / "scripts" / "spot_patches.py", REPO / "stpath")
    assert {"openslide", "h5py", "anndata", "skimage", "PIL"} <= imports


def test_env_files_are_generated_from_the_lock_and_the_imports():
    from tools import envfiles

    assert envfiles.drift(REPO) == []
    models = envcheck.env_packages(REPO / "envs" / "models.yaml")
    conda_side = [
        d for d in yaml.safe_load((REPO / "envs" / "models.yaml").read_text())["dependencies"] if isinstance(d, str)
    ]
    assert conda_side == ["python=3.11", "pip=25.3"]  # conda provides the interpreter and pip only
    lock = envcheck.read_lock(REPO / "requirements.lock")
    assert all(lock[name] == version for name, version in models.items() if name not in ("python", "pip"))
    assert {"torch", "timm", "peft", "pydantic"} <= set(models)


def test_lock_change_without_regenerating_the_envs_is_caught(tmp_path):
    import shutil

    from tools import envfiles

    repo = tmp_path / "repo"
    for part in ("workflow", "envs", "stpath"):
        shutil.copytree(REPO / part, repo / part)
    lock = (REPO / "requirements.lock").read_text()
    (repo / "requirements.lock").write_text(lock.replace("\ntimm==", "\ntimm==9").replace("\npandas==", "\npandas==9"))
    problems = envfiles.drift(repo)
    assert any(p.startswith("models.yaml: differs from requirements.lock") and "timm==9" in p for p in problems), (
        problems
    )
    assert any(p.startswith("expression.yaml:") for p in problems)  # pandas is in every step that reads tables
    (repo / "envs" / "slides.yaml").unlink()
    assert "slides.yaml: missing; run python -m tools.envfiles --write" in envfiles.drift(repo)


def test_torch_pin_takes_the_cuda_or_the_cpu_wheel():
    """The env pins torch==X without a local label or an index: PyPI's default wheel (CUDA) and
    the CPU index's X+cpu both satisfy it; torch's CUDA runtime is left to torch's own exact pins."""
    from packaging.specifiers import SpecifierSet

    for step in ("models", "deconvolution"):
        text = (REPO / "envs" / f"{step}.yaml").read_text()
        version = envcheck.env_packages(REPO / "envs" / f"{step}.yaml")["torch"]
        assert SpecifierSet(f"=={version}").contains(f"{version}+cpu") and SpecifierSet(f"=={version}").contains(
            version
        )
        assert "index-url" not in text and not any(
            n.startswith(("nvidia-", "cuda-")) or n == "triton"
            for n in envcheck.env_packages(REPO / "envs" / f"{step}.yaml")
        )


def test_env_install_check_names_the_env_and_the_pin_that_does_not_exist(tmp_path):
    """The real install check can fail: a version that does not exist stops it, named."""
    from tools import envinstall

    env = tmp_path / "broken.yaml"
    env.write_text(
        "channels: [conda-forge, nodefaults]\ndependencies:\n  - python=3.11\n  - pip=25.3\n  - pip:\n      - numpy==0.0.0.dev404\n"
    )
    (tmp_path / "empty.lock").write_text("")
    problems = envinstall.check_env(env, {"numpy"}, tmp_path / "venvs", lock=tmp_path / "empty.lock")
    assert len(problems) == 1 and problems[0].startswith("broken.yaml: pip cannot install numpy==0.0.0.dev404"), (
        problems
    )


def test_env_install_check_names_a_module_the_env_cannot_import(tmp_path):
    from tools import envinstall

    env = tmp_path / "thin.yaml"
    env.write_text("channels: [conda-forge, nodefaults]\ndependencies:\n  - python=3.11\n  - pip=25.3\n")
    problems = envinstall.check_env(env, {"json", "numpy"}, tmp_path / "venvs")
    assert problems == [problems[0]] and problems[0].startswith(
        "thin.yaml: import numpy fails after installing the env (ModuleNotFoundError"
    )
