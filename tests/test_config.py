"""Cross-checks of a whole config (``stpath.checks.check_config``), before any job runs: each
refusal names the keys or the file and the fix."""

import copy

import pytest
import yaml
from snakemake.utils import validate

from stpath.checks import check_config
from stpath.config import Stages
from stpath.encoder_checks import encoder_input
from stpath.errors import InputError
from stpath.ingest.download import pending_downloads
from stpath.ingest.sheet import read_sheet
from stpath.targets import patch_path, tile_path
from stpath.wsi.scale import ImageScale, RunScales

from conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def load(name="config.yaml", **changes) -> dict:
    """A config file with absolute sample-sheet paths, schema defaults filled (as the workflow does)."""
    config = yaml.safe_load((REPO / "config" / name).read_text())
    config["samples"] = str(REPO / config["samples"])
    if not config["data_root"].startswith("resources/"):
        config["data_root"] = str((REPO / config["data_root"]).resolve())
    for key, value in changes.items():
        section, _, leaf = key.partition(".")
        if leaf:
            config.setdefault(section, {})[leaf] = value
        else:
            config[section] = value
    validate(config, SCHEMA)
    return config


def refusal(config) -> str:
    with pytest.raises(InputError) as err:
        check_config(config)
    return str(err.value)


def test_the_shipped_configs_pass():
    check_config(load())
    check_config(load("spacexr_hippocampus.yaml"))


def test_stages_follow_slides_and_reference():
    config = load()
    stages = Stages.of(config, read_sheet(config["samples"]))
    assert stages.deconvolution and stages.expression_models == [
        "cmrcnet",
        "bleep",
        "direct",
        "hest_probe",
        "frozen_retrieval",
    ]
    assert stages.cell_type_models == [
        "cuca",
        "cuca_image_only",
        "linear_probe",
        "ridge_probe",
    ] and stages.whole_slide_cell_types == ["cuca"]
    assert stages.whole_slide_expression == ["cmrcnet", "direct"] and stages.final_models
    assert stages.labelled_slides == ["P1_S1", "P1_S2", "P2_S1", "P2_S2"] and stages.image_only == ["P3_S1"]
    assert (
        stages.samples_with_slide == stages.labelled_slides + ["P3_S1"]
        and stages.samples_with_expression == stages.labelled_slides
    )
    no_reference = copy.deepcopy(config)
    no_reference["deconvolution"]["reference"].update(path="", signatures="")
    assert Stages.of(no_reference, read_sheet(config["samples"])).cell_type_models == []  # no labels to learn


def test_patch_size_must_be_the_encoders_input_size():
    message = refusal(load(**{"patches.px": 256}))
    assert (
        "patches.px is 256 px but the expression_models encoder (expression_models.encoder.img_size) takes 224 px"
        in message
    )
    assert "Fix: set patches.px to 224" in message
    config = load(**{"patches.px": 256})
    config["expression_models"]["encoder"]["img_size"] = 256
    assert "cell_type_models.encoder.img_size) takes 224 px" in refusal(config)
    # a branch's own scale is checked against that branch's encoder, and named
    config = load()
    config["cell_type_models"]["patches"] = {"um_per_px": 0.69, "px": 256}
    message = refusal(config)
    assert "cell_type_models.patches.px is 256 px but the cell_type_models encoder" in message
    assert "Fix: set cell_type_models.patches.px to 224" in message
    config["cell_type_models"]["patches"]["px"] = 224
    check_config(config)


def test_encoder_input_of_presets_and_timm_models():
    assert encoder_input({"preset": "virchow2", "encoder": {}}) == (224, "preset 'virchow2'")
    assert encoder_input({"preset": "", "encoder": {"name": "vit_small_patch16_384"}})[0] == 384
    assert encoder_input({"preset": "", "encoder": {"name": "resnet50"}})[0] is None  # a CNN takes any size


def test_cell_type_defaults_are_the_papers_cuca():
    """Left to the schema, the cell-type models are CUCA as released: Virchow2 with LoRA r 8 / alpha
    16 on its last 2 blocks, Adam 2e-3 one-cycle, 100 epochs, batch 128, seed 3407; without the
    weight file the run stops before any job. The demo sets its small encoder explicitly."""
    from stpath.celltypes.settings import CellTypeSettings

    config = load()
    cells = {
        k: v
        for k, v in config["cell_type_models"].items()
        if k not in ("preset", "finetune", "encoder", "cuca", "train")
    }
    defaults = load(cell_type_models=cells)
    settings = CellTypeSettings.from_config(defaults["cell_type_models"])
    assert (settings.cuca.preset, settings.cuca.finetune) == ("virchow2", "lora")
    assert (settings.cuca.lora.r, settings.cuca.lora.alpha, settings.cuca.lora.blocks) == (8, 16, 2)
    assert (
        settings.train.optimizer,
        settings.train.schedule,
        settings.train.lr,
        settings.train.epochs,
        settings.train.batch_size,
        settings.train.seed,
    ) == ("adam", "onecycle", 0.002, 100, 128, 3407)
    assert "no pretrained weights are given" in refusal(defaults)
    demo = CellTypeSettings.from_config(config["cell_type_models"])
    assert demo.describe_encoder().endswith("from scratch, no pretrained weights; not the paper's Virchow2 + LoRA")


def test_frozen_encoder_needs_weights_that_exist(tmp_path):
    cells = load()["cell_type_models"]
    assert "no pretrained weights are given" in refusal(load(cell_type_models=dict(cells, finetune="lora")))
    missing = dict(cells, finetune="lora", encoder=dict(cells["encoder"], weights=str(tmp_path / "virchow2.bin")))
    assert "virchow2.bin: encoder weight file not found" in refusal(load(cell_type_models=missing))


def labelled_sheet(tmp_path) -> str:
    """The demo's sheet without its image-only slide (a run that predicts no whole slide)."""
    labelled = [
        line for line in (REPO / "config" / "samples_demo.tsv").read_text().splitlines() if "\timage\t" not in line
    ]
    (tmp_path / "samples.tsv").write_text("\n".join(labelled) + "\n")
    return str(tmp_path / "samples.tsv")


def test_each_branch_learns_and_maps_at_its_own_scale_each_cut_once():
    """The scale route: one object per scale; a branch's patches and whole-slide tiles come from the
    run's folders when the scale (tiles: the field of view) is the run's, else from one folder per
    extra scale, shared by the branches that use it."""
    config = load()
    scales = RunScales.from_config(config)
    assert scales.patches == scales.tiles == ImageScale(0.5, 224) and scales.branches == {}
    assert scales.by_key() == {} and patch_path("o", scales, "cell_type_models", "S") == "o/patches/S.h5"
    config["cell_type_models"]["patches"] = {"um_per_px": 0.69, "px": 224}
    scales = RunScales.from_config(config)
    cuca = ImageScale(0.69, 224)
    assert scales.patches_of("cell_type_models") == cuca and scales.patches_of("expression_models") == ImageScale()
    assert patch_path("o", scales, "cell_type_models", "S") == "o/patches/224px_0.69um/S.h5"
    assert tile_path("o", scales, "cell_type_models", "S") == "o/tiles/224px_0.69um/S.h5"
    assert tile_path("o", scales, "expression_models", "S") == "o/tiles/S.h5"
    assert scales.by_key() == {"224px_0.69um": cuca} and cuca.field_um == pytest.approx(154.56)
    # tiles of the patches' field at another pixel count are shared (resized at inference)
    config["tiling"].update(um_per_px=0.25, px=448)
    scales = RunScales.from_config(config)
    assert tile_path("o", scales, "expression_models", "S") == "o/tiles/S.h5" and scales.finest_um == 0.25
    # tiles of another field: each branch's whole slides are mapped on tiles cut at its own scale
    config["tiling"].update(um_per_px=1.0, px=224)
    scales = RunScales.from_config(config)
    assert tile_path("o", scales, "expression_models", "S") == "o/tiles/224px_0.5um/S.h5"
    assert set(scales.by_key()) == {"224px_0.5um", "224px_0.69um"}
    check_config(config)  # accepted: nothing to refuse any more


def test_fold_scheme_must_be_possible_with_the_samples(tmp_path):
    sheet = (REPO / "config" / "samples_demo.tsv").read_text().splitlines()
    one_patient = [sheet[0]] + [line.replace("\tP2\t", "\tP1\t") for line in sheet[1:]]
    (tmp_path / "samples.tsv").write_text("\n".join(one_patient) + "\n")
    assert "fold scheme 'patient' is impossible with 1 patient(s)" in refusal(
        load(samples=str(tmp_path / "samples.tsv"))
    )


def test_deconvolution_inputs_must_exist_or_be_downloaded(tmp_path):
    config = load("spacexr_hippocampus.yaml")
    config["deconvolution"]["reference"]["path"] = "reference/missing.h5ad"
    assert "missing.h5ad: deconvolution input not found" in refusal(config)
    config["downloads"] = {"reference/missing.h5ad": "http://127.0.0.1/missing.h5ad"}
    assert {rel: d.url for rel, d in pending_downloads(config).items()} == config["downloads"]
    check_config(config)  # a download rule will fetch it


def test_converted_reference_is_made_by_the_workflow_when_its_archive_is():
    config = load("spacexr_hippocampus.yaml")
    config["deconvolution"]["reference"].update(path="reference/atlas.h5ad", convert_from="archives/atlas.tar.gz")
    assert "archives/atlas.tar.gz: deconvolution input not found" in refusal(config)
    config["downloads"] = {"archives/atlas.tar.gz": "http://127.0.0.1/atlas.tar.gz"}
    check_config(config, inspect_inputs=False)  # downloaded, then converted to reference.path


def test_stain_normalisation_target_must_be_a_slide_or_a_fit_of_the_same_method(tmp_path):
    from stpath.wsi.stain import StainFit, write_stain_fit

    check_config(load(stain_normalisation={"method": "macenko", "target": "P2_S1"}))
    message = refusal(load(stain_normalisation={"method": "macenko", "target": "P9"}))
    assert (
        "stain_normalisation.target 'P9' is not a sample with a slide in this sheet" in message and "P1_S1" in message
    )
    assert "stain fit file not found" in refusal(
        load(stain_normalisation={"method": "reinhard", "target": str(tmp_path / "t.json")})
    )
    write_stain_fit(tmp_path / "t.json", StainFit("macenko", "X", 64, ((0.6, 0.1), (0.7, 0.8), (0.4, 0.6)), (1.9, 1.0)))
    message = refusal(load(stain_normalisation={"method": "reinhard", "target": str(tmp_path / "t.json")}))
    assert (
        "t.json: a macenko fit, but stain_normalisation.method is reinhard" in message
        and "Fix: set stain_normalisation.method: macenko" in message
    )


def test_frozen_baselines_check_their_encoder_and_compared_runs_must_exist(tmp_path):
    expr = load()["expression_models"]
    models = dict(expr, models=["hest_probe"])
    check_config(load(expression_models=models))
    missing = dict(models, frozen={"preset": "uni", "weights": str(tmp_path / "uni.bin")})
    assert "uni.bin: frozen encoder weight file not found" in refusal(load(expression_models=missing))
    small = {"patches": {"px": 112, "um_per_px": 1.0}, "tiling": {"px": 112, "um_per_px": 1.0}}
    wrong_size = dict(models, encoder=dict(expr["encoder"], img_size=112), frozen={"preset": "uni"})
    message = refusal(
        load(expression_models=wrong_size, cell_type_models={"models": []}, samples=labelled_sheet(tmp_path), **small)
    )
    assert (
        "patches.px is 112 px but the frozen encoder (expression_models.frozen, preset 'uni') takes 224 px" in message
    )
    message = refusal(load(report={"compare_runs": {"no stain": str(tmp_path / "summary.tsv")}}))
    assert "summary.tsv: report.compare_runs: the metric table of run 'no stain' is not there" in message


def test_encoder_sizes_a_preset_overrides_are_refused_and_the_fix_says_preset_empty():
    """A reference without its label column once led to `finetune: full` with `preset: virchow2`
    left on: a 631 M-parameter ViT-H trained from scratch while the encoder sizes were ignored."""
    cells = load()["cell_type_models"]
    sized = dict(cells, preset="virchow2", finetune="full", encoder=dict(cells["encoder"], embed_dim=96, depth=2))
    message = refusal(load(cell_type_models=sized))
    assert (
        "cell_type_models.encoder sets {'patch_size': 32, 'embed_dim': 96, 'depth': 2, 'num_heads': 4}, which preset 'virchow2' overrides"
        in message
    )
    assert 'set cell_type_models.preset: ""' in message
    frozen = refusal(load(cell_type_models=dict(cells, preset="virchow2", finetune="lora", encoder={"weights": ""})))
    assert (
        "or finetune: full and preset: \"\" with the encoder's sizes (else the preset's virchow2 is trained from scratch)"
        in frozen
    )


def test_the_checks_read_the_config_once_into_typed_settings():
    """check_config and the stage decisions read typed settings (``RunSettings``): the raw config
    dict is looked up only where it is typed, and the stain settings are built once."""
    import ast

    from stpath.config import RunSettings

    source = (REPO / "stpath" / "config.py").read_text()
    tree = ast.parse(source)
    readers = set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "config":
                    readers.add(function.name)
    # the typed boundary, and what the workflow itself makes (the download plan, owned by the
    # ingest package, reads the raw downloads section)
    assert "from_config" in readers and readers <= {"from_config", "made_by_workflow", "made"}, readers
    assert source.count("StainNormalisation.from_config(") == 1
    run = RunSettings.from_config(load())
    assert run.scales.patches.px == 224 and run.folds.scheme == "patient" and run.reference.given
    assert run.branch("cell_type_models") is run.cell_types and not run.stain.active
