"""The package layout's rules, checked on the code itself: the two method branches never import
each other, the library never imports Snakemake, the registry is the only source of model names,
the workflow's parse-time modules import no torch, and ruff is clean."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stpath.models import registry

from conftest import REPO, tiny_encoder

PACKAGE = REPO / "stpath"


def imported_modules(path: Path, root: Path = REPO) -> set[str]:
    """Absolute names of the modules (and imported members) a file under ``root`` imports."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def branch_violations(root: Path) -> list[str]:
    """Files of one method branch that import the other branch."""
    other = {"expression": "stpath.celltypes", "celltypes": "stpath.expression"}
    problems = []
    for branch, forbidden in other.items():
        for path in sorted((root / "stpath" / branch).rglob("*.py")):
            bad = sorted(m for m in imported_modules(path, root) if m == forbidden or m.startswith(forbidden + "."))
            problems += [f"{path.relative_to(root)} imports {m}" for m in bad]
    return problems


def test_the_package_never_imports_the_tooling():
    """``tools/`` (env tooling, cluster helpers, unlock, study runners, benchmarks) sits outside the
    science package, which ships alone in the wheel and imports none of it."""
    bad = [
        f"{p.relative_to(REPO)} imports {m}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for m in sorted(imported_modules(p))
        if m == "tools" or m.startswith("tools.")
    ]
    assert bad == []
    assert not (PACKAGE / "ops").exists() and not (PACKAGE / "bench").exists()


def test_method_branches_never_import_each_other():
    assert branch_violations(REPO) == []


def test_branch_check_catches_a_cross_import(tmp_path):
    for branch in ("expression", "celltypes"):
        (tmp_path / "stpath" / branch).mkdir(parents=True)
    (tmp_path / "stpath" / "celltypes" / "figures.py").write_text("from ..expression.metrics import per_slide\n")
    (tmp_path / "stpath" / "expression" / "models.py").write_text("import stpath.celltypes.labels\n")
    assert sorted(branch_violations(tmp_path)) == [
        "stpath/celltypes/figures.py imports stpath.expression.metrics",
        "stpath/celltypes/figures.py imports stpath.expression.metrics.per_slide",
        "stpath/expression/models.py imports stpath.celltypes.labels",
    ]


def test_library_never_imports_snakemake():
    offenders = [
        str(p.relative_to(REPO))
        for p in PACKAGE.rglob("*.py")
        if any(m.split(".")[0] == "snakemake" for m in imported_modules(p))
    ]
    assert offenders == []


def schema_enum(*keys):
    node = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for key in keys:
        node = node["properties"][key]
    return node["items"]["enum"]


def test_schema_model_names_come_from_the_registry():
    assert schema_enum("expression_models", "models") == registry.names(registry.EXPRESSION)
    assert schema_enum("cell_type_models", "models") == registry.names(registry.CELL_TYPES)
    assert schema_enum("cell_type_models", "whole_slide") == registry.names(registry.CELL_TYPES)
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    # the wildcard from the registry: a model's name, or a seed replicate's
    assert 'model=registry.WILDCARD.format("|".join(registry.MODELS))' in common
    with pytest.raises(ValueError, match="unknown cell_types model 'cmrcnet'"):
        registry.get("cmrcnet", registry.CELL_TYPES)


def test_a_models_lifecycle_is_written_once_for_both_branches():
    """The four lifecycle rules exist once, over {model}, each a script of its stage that hands the
    job to stpath.lifecycle; the branches keep only their metrics and figures."""
    import re

    from stpath import lifecycle

    rules = {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for name in re.findall(r"^\s*rule (\w+):", path.read_text(), re.M):
            rules[name] = rules.get(name, 0) + 1
    lifecycle_rules = {
        "train_model": "train",
        "predict_model": "predict",
        "slide_model": "map_slides",
        "bundle_model": "bundle",
    }
    assert all(rules.get(r) == 1 for r in lifecycle_rules), rules
    assert not [r for r in rules if re.match(r"(train|predict|slide|bundle)_(expression|cell_type)", r)], rules
    assert "cell_model" not in "".join(p.read_text() for p in (REPO / "workflow").rglob("*.smk"))
    for rule, stage in lifecycle_rules.items():
        script = (REPO / "workflow" / "scripts" / f"{rule}.py").read_text()
        assert f'lifecycle.run("{stage}", ModelJob.of(snakemake))' in script and len(script.splitlines()) <= 6
    for task, module in lifecycle.BRANCH_JOBS.items():
        branch = importlib.import_module(module)
        assert all(callable(getattr(branch, stage, None)) for stage in lifecycle.STAGES), module


def test_every_registered_model_builds():
    from stpath.celltypes.settings import CellTypeSettings
    from stpath.expression.settings import ExpressionSettings
    from stpath.models.cmrcnet import CMRCNetConfig
    from stpath.models.cuca import CUCAConfig

    small = tiny_encoder(depth=2)
    settings = {
        registry.EXPRESSION: ExpressionSettings(
            cmrcnet=CMRCNetConfig(encoder=small, proj_dim=16, gene_tokens=2, first_cross_heads=2, fusion_heads=2)
        ),
        registry.CELL_TYPES: CellTypeSettings(
            cuca=CUCAConfig(encoder=small, preset="", finetune="full", hidden_dim=16, proj_dim=16, molecule_dims=(16,))
        ),
    }
    built = {name: spec.build(settings[spec.task], 12, 5) for name, spec in registry.MODELS.items()}
    assert built["cmrcnet"].cfg.reconstruction and not built["bleep"].cfg.reconstruction
    assert hasattr(built["cuca"], "molecule") and not hasattr(built["cuca_image_only"], "molecule")
    assert not hasattr(built["cuca_no_molecule"], "molecule") and built["cuca_no_molecule"].cfg.w_main == 0.3
    assert built["linear_probe"].head.out_features == 5 and built["direct"].head.out_features == 12


def test_workflow_parse_time_modules_import_no_torch():
    """common.smk runs in Snakemake's own environment, which need not have torch (--use-conda)."""
    code = "import sys; sys.modules['torch'] = None; sys.modules['timm'] = None; import stpath.config, stpath.checks, stpath.encoder_checks, stpath.models.registry, stpath.ingest.sheet, stpath.ingest.folds"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_ruff_is_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_ruff_format_is_clean():
    """Line length is enforced by the formatter (120 columns, pyproject.toml): code is wrapped;
    only strings and comments may run longer."""
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_docs_are_split_like_nf_core_and_their_links_resolve():
    """README stays a landing page (<= 150 lines); the user docs live in docs/ and CHANGELOG.md,
    and every relative link of them names a file that exists and, with an anchor, a heading there."""
    import re

    assert len((REPO / "README.md").read_text().splitlines()) <= 150
    pages = [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        REPO / "config" / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
    ]
    assert {p.name for p in pages} >= {
        "usage.md",
        "output.md",
        "methods.md",
        "bad_inputs.md",
        "development.md",
        "CHANGELOG.md",
    }

    def anchors(page: Path) -> set[str]:
        heads = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)
        return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in heads}

    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]*)(#[^)\s]*)?\)", page.read_text()):
            path, anchor = target
            if path.startswith(("http://", "https://")):
                continue
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor[1:] not in anchors(linked)):
                broken.append(f"{page.relative_to(REPO)} -> {path}{anchor}")
    assert broken == []


def test_common_smk_stays_short_and_the_targets_live_in_the_library():
    """common.smk keeps validation, samples and folds, input functions (<= 250 lines); what a run
    makes is ``stpath.targets``, a pure function of its stages (unit-tested below)."""
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert len(common.splitlines()) <= 250 and "def final_outputs" not in common
    assert "targets.final_outputs(" in (REPO / "Snakefile").read_text()


def test_targets_of_a_small_run():
    from stpath import targets
    from stpath.config import Stages

    stages = Stages(
        samples_with_slide=["A", "B"],
        samples_with_expression=["A"],
        labelled_slides=["A"],
        image_only=["B"],
        deconvolution=True,
        published_tiers=[],
        expression_models=["direct"],
        cell_type_models=[],
        whole_slide_expression=["direct"],
        whole_slide_cell_types=[],
        final_models=True,
        bundles=[],
    )
    outs = targets.final_outputs("r", ["A", "B"], stages, [0, 1], [], truth=False, signatures_given=True)
    assert outs[:6] == [
        "r/ingest/A.h5ad",
        "r/ingest/B.h5ad",
        "r/genes/genes.tsv",
        "r/splits/folds.tsv",
        "r/tiles/A.h5",
        "r/tiles/B.h5",
    ]
    assert "r/deconvolution/reference/elbo.png" not in outs and "r/deconvolution/accuracy.tsv" not in outs
    assert [o for o in outs if "/models/" in o] == [
        f"r/models/direct/{s}/history.tsv" for s in ("fold0", "fold1", "final")
    ]
    assert "r/bundles/direct" in outs and "r/wholeslide/direct/index.tsv" in outs and "r/metrics/headline.tsv" in outs
    assert not any("cell_types" in o for o in outs) and len(outs) == len(set(outs))
    assert targets.summary_parts("r", stages) == ["r/metrics/expression_summary.tsv"]


def test_model_traits_come_from_the_registry_not_name_tests():
    """No module of the package outside the registry compares a name with a registered model's
    name: what a model is (its task, how it is fitted, which encoder it runs) is a registry trait."""
    names = set(registry.MODELS)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                literals = [
                    c
                    for c in [node.left, *node.comparators]
                    for c in ([c] if isinstance(c, ast.Constant) else getattr(c, "elts", []))
                ]
                found += [
                    f"{path.relative_to(REPO)}:{node.lineno} tests {c.value!r}"
                    for c in literals
                    if isinstance(c, ast.Constant) and c.value in names
                ]
    assert found == []
    assert registry.with_frozen_encoder(registry.names(registry.EXPRESSION)) == ["hest_probe", "frozen_retrieval"]


def test_typed_settings_are_named_alike():
    """A typed config section (or part of one) is a ``...Settings``; a model's architecture, as timm
    and Hugging Face name it, a ``...Config`` (only under stpath/models); no third suffix."""
    import re

    for path in (REPO / "stpath").rglob("*.py"):
        for name in re.findall(r"^class (\w+)", path.read_text(), re.M):
            assert not name.endswith(("Params", "Parameters", "Options")), (path, name)
            if name.endswith("Config"):
                assert path.parent.name == "models", (path, name)
