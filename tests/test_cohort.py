"""Demo cohorts of any size (``demo.cohort``): the sheet from three numbers, stable as it grows,
slides of about the asked number of spots, and a plan that scales."""

import os
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from stpath.demo import synth
from stpath.demo.cohort import Cohort, job_params, side_for_spots, write_cohort_sheet
from stpath.errors import InputError
from stpath.ingest.sheet import read_sheet

from conftest import REPO, run_snakemake


def test_sections_are_dealt_to_patients_and_adding_one_changes_no_other():
    sheet = Cohort(patients=2, sections=4, image_only=1).sheet()
    demo = read_sheet(REPO / "config" / "samples_demo.tsv")
    # the embedded demo is this cohort: the same rows, in the order sections are dealt out
    assert sorted(sheet["sample"]) == sorted(demo["sample"])
    merged = sheet.set_index("sample").join(demo.set_index("sample"), rsuffix="_demo")
    for column in ("patient", "slide", "expression", "format"):
        assert (merged[column] == merged[f"{column}_demo"]).all(), column
    small = Cohort(patients=3, sections=7).sheet()
    large = Cohort(patients=3, sections=8).sheet()
    pd.testing.assert_frame_equal(large.iloc[:7], small)
    assert large.iloc[7]["sample"] == "P2_S3" and large.iloc[7]["patient"] == "P2"
    assert large.groupby("patient").size().tolist() == [3, 3, 2]


def test_the_sheet_is_written_once_and_a_sheet_of_the_user_is_never_overwritten(tmp_path):
    path = tmp_path / "cohort" / "samples.tsv"
    config = {"samples": str(path), "demo": {"generate": True, "cohort": {"patients": 2, "sections": 5}}}
    assert write_cohort_sheet(config)
    stamp = path.stat().st_mtime_ns
    assert read_sheet(path).shape[0] == 5
    assert not write_cohort_sheet(config) and path.stat().st_mtime_ns == stamp  # the folds rule sees no change
    config["demo"]["cohort"]["sections"] = 6
    assert write_cohort_sheet(config) and read_sheet(path).shape[0] == 6

    mine = tmp_path / "mine.tsv"
    mine.write_text("sample\tpatient\tslide\texpression\tformat\nA\tP\ta.tif\ta\tvisium\n")
    with pytest.raises(InputError, match="not written by the generator.*Fix: point 'samples' at a new file"):
        write_cohort_sheet({**config, "samples": str(mine)})
    assert mine.read_text().startswith("sample\t")


@pytest.mark.parametrize(
    "demo, message",
    [
        ({"generate": False, "cohort": {"patients": 2, "sections": 4}}, "demo.generate: true"),
        ({"generate": True, "cohort": {"patients": 0, "sections": 4}}, "demo.cohort.patients to 1 or more"),
    ],
)
def test_a_cohort_that_cannot_be_made_is_refused(tmp_path, demo, message):
    with pytest.raises(InputError, match=message):
        write_cohort_sheet({"samples": str(tmp_path / "s.tsv"), "demo": demo}, "c.yaml")
    assert not (tmp_path / "s.tsv").exists()


def test_slides_hold_about_the_spots_asked_for():
    """Spots under tissue of six sections drawn at spots_per_section 380 (the HER2ST-sized cohort):
    the arrays, not the images (cheap)."""
    demo = {"size_px": 3072, "n_genes": 400, "cells_per_type_reference": 120, "seed": 7}
    params = synth.DemoSettings.from_config({**demo, "cohort": {"spots_per_section": 380}})
    assert params.size_px == side_for_spots(380) > 3072
    spots = [
        synth.layout(7, row.sample, row.patient, params)[3].in_tissue.sum()
        for row in Cohort(patients=3, sections=6).sheet().itertuples()
    ]
    assert 0.85 * 380 < np.mean(spots) < 1.15 * 380, spots


def test_the_generating_jobs_see_nothing_of_the_cohort_size():
    """demo_slide's params hold no cohort key: adding a section reruns no other section's job."""
    demo = {"size_px": 3072, "n_genes": 400, "cells_per_type_reference": 120, "seed": 7}
    a = job_params({**demo, "cohort": {"patients": 8, "sections": 36, "spots_per_section": 380}})
    b = job_params({**demo, "cohort": {"patients": 8, "sections": 37, "spots_per_section": 380}})
    assert a == b and "cohort" not in a and a["size_px"] == side_for_spots(380)
    assert job_params(demo) == demo


def dry_run(tmp_path, sections, patients, **folds):
    config = yaml.safe_load((REPO / "config" / "cohort.yaml").read_text())
    config["demo"]["cohort"].update(sections=sections, patients=patients)
    config["folds"].update(folds)
    config["samples"] = str(tmp_path / "resources" / "cohort" / "samples.tsv")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    r = run_snakemake(["-n", "--cores", "2", "--configfile", str(tmp_path / "c.yaml"), "--quiet", "rules"], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    return dict((k, int(v)) for k, v in re.findall(r"^(\w+)\s+(\d+)$", r.stdout, re.M))


def test_a_360_section_cohort_is_planned(tmp_path):
    """40 patients, 360 sections, five patient folds: every section generated, ingested, cut and
    mapped once; each image model trained per fold and once on everything."""
    jobs = dry_run(tmp_path, 360, 40, n_folds=5)
    for rule in ("demo_slide", "ingest", "tissue_tiles", "spot_patches"):
        assert jobs[rule] == 360, rule
    # the maps of every section in one job per kind (a job per section walks all sections' files)
    assert jobs["abundance_maps"] == jobs["expression_maps"] == jobs["cell_type_maps"] == 1
    config = yaml.safe_load((REPO / "config" / "cohort.yaml").read_text())
    models = len(config["expression_models"]["models"]) + len(config["cell_type_models"]["models"])
    assert jobs["train_model"] == models * (5 + 1)
    assert jobs["cell2location"] == 1 and jobs["folds"] == 1
    assert os.path.exists(tmp_path / "resources" / "cohort" / "samples.tsv")


def test_connecting_the_jobs_costs_linear_in_the_sections(tmp_path):
    """The DAG's matching cost (tools.bench.scale.matching_cost: what Snakemake compares to connect
    each input to the job making it) at 12 and 24 sections of 4 patients, per pair of rules:
    doubling the sections at most doubles each. Listing every section's file as an input of a job
    whose outputs are read per section (cell2location, a model's predictions) makes its pair grow
    fourfold (checked by hand on cell2location's inputs)."""
    from tools.bench.scale import cohort_config, matching_cost, planned_jobs

    costs = []
    for sections in (12, 24):
        workdir = tmp_path / str(sections)
        workdir.mkdir()
        configfile = cohort_config(workdir, sections, 4, 4)
        r = run_snakemake(["-n", "--cores", "2", "--configfile", str(configfile)], workdir)
        assert r.returncode == 0, r.stdout[-3000:]
        jobs = planned_jobs(r.stdout)
        assert sum(rule == "ingest" for rule, _, _ in jobs) == sections
        costs.append(matching_cost(jobs))
    growth = {pair: costs[1][pair] / cost for pair, cost in costs[0].items()}
    assert len(growth) > 20 and max(growth.values()) <= 2.1, sorted(growth.items(), key=lambda kv: -kv[1])[:5]


def test_an_index_lists_the_files_and_a_job_sees_them_as_inputs(tmp_path):
    from types import SimpleNamespace

    from stpath.manifest import job_files, read_index, write_index
    from stpath.training.job import ModelJob

    files = {"P1_S1": "results/x/predictions/cuca/P1_S1.h5ad", "P2_S1": "results/x/predictions/cuca/P2_S1.h5ad"}
    write_index(tmp_path / "index.tsv", files)
    assert read_index(tmp_path / "index.tsv") == files

    class Named(dict):  # Snakemake's Namedlist, as the scripts use it: items() and attributes
        __getattr__ = dict.__getitem__

    smk = SimpleNamespace(
        input=Named(predictions=str(tmp_path / "index.tsv"), tiles="t.h5"),
        params=Named(files={"predictions": list(files.values())}, settings={"train": {}}),
        output=Named(),
        wildcards=SimpleNamespace(model="cuca"),
        threads=1,
        config={},
    )
    assert job_files(smk) == {"predictions": list(files.values()), "tiles": "t.h5"}
    assert ModelJob.of(smk).input == job_files(smk) and "files" not in ModelJob.of(smk).params
    smk.params = Named(settings={})  # a rule with no indexed files
    assert job_files(smk) == dict(smk.input)


def test_the_sample_constraint_matches_exactly_the_samples():
    """The {sample} wildcard's constraint (stpath.targets.name_pattern): every name of a 3,000
    section cohort and nothing else, prefixes and extensions of names included."""
    from stpath.targets import name_pattern

    names = list(Cohort(patients=300, sections=3000, image_only=2).sheet()["sample"]) + ["A", "AB", "a.b"]
    exact = re.compile(f"(?:{name_pattern(names)})\\Z")
    assert all(exact.match(n) for n in names)
    for other in ("P0_S1", "P1_S", "P1_S11", "P303_S1", "ABC", "aXb", "", "P1_S1/x"):
        assert not exact.match(other), other
    assert name_pattern([], "NO_SAMPLES") == "NO_SAMPLES"
