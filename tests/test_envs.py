
from stpath.ops import envcheck

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
