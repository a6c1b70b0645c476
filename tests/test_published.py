"""Published per-spot cell-type tables (the HER2ST authors' stereoscope proportions): reading and
refusing them, the label map at both tiers, the external check with its NNLS floor on small tables
with hand-computed correlations, and the pre-flight on the real sections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from test_bad_inputs import config_for, her2st_rows

from stpath.checks import check_config
from stpath.deconvolution.published import (
    NNLS,
    CoarserTypes,
    PublishedSettings,
    PublishedTier,
    aggregate,
    check_published,
    compare,
    external_check,
    nnls_proportions,
    read_published,
    tier_of_types,
)
from stpath.errors import InputError

from conftest import REPO, shared

HER2ST = yaml.safe_load((REPO / "config" / "her2st.yaml").read_text())["published_deconvolution"]


def write(path, frame: pd.DataFrame):
    frame.to_csv(path, sep="\t")
    return path


def table(spots=("1x1", "1x2", "2x1"), **columns):
    return pd.DataFrame(columns or {"A": [0.2, 0.5, 0.9], "B": [0.8, 0.5, 0.1]}, index=list(spots))


# --- reading ------------------------------------------------------------------------------------
def test_real_tables_read_with_their_names_stripped():
    minor = read_published(shared("her2st", "stereoscope", "minor", "C2.tsv"))
    assert minor.shape == (187, 22) and "NK cells" in minor.columns  # 'NK cells ' in the file
    assert np.allclose(minor.sum(axis=1), 1, atol=1e-4) and minor.index[0] == "10x21"
    assert list(read_published(shared("her2st", "stereoscope", "major", "C2.tsv")).columns) == [
        "B-cells",
        "CAFs",
        "Endothelial",
        "Epithelial",
        "Myeloid",
        "Plasma Cells",
        "PVL",
        "T-cells",
    ]


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda t: t.assign(A=["0.2", "x", "0.9"]), "the column 'A' holds text, e.g. 'x'"),
        (lambda t: t.assign(A=[0.2, np.nan, 0.9]), "1 values are missing or infinite, e.g. spot '1x2', type 'A'"),
        (lambda t: t.assign(B=[0.8, -0.5, 0.1]), "1 values are negative, e.g. -0.5 for spot '1x2', type 'B'"),
        (lambda t: t.set_axis(["A", "A "], axis=1), "the cell type 'A' appears 2 times"),
        (lambda t: t.set_axis(["1x1", "1x1", "2x1"]), "the spot id '1x1' appears 2 times"),
        (lambda t: t[["A"]], "3 spots x 1 cell types"),
    ],
)
def test_unreadable_tables_are_refused(tmp_path, change, problem):
    path = write(tmp_path / "C2.tsv", change(table()))
    with pytest.raises(InputError) as err:
        read_published(path)
    assert str(err.value).startswith(f"{path}: {problem}") and "Fix:" in str(err.value)


# --- checks across samples ----------------------------------------------------------------------
def test_another_sections_table_and_one_table_for_two_samples_are_refused():
    root = shared("her2st")
    from stpath.ingest.readers import FORMATS

    spots = {
        s: FORMATS["legacy_st"].positions(root / "counts" / f"{s}.tsv.gz", root / "spots" / f"{s}_selection.tsv").ids
        for s in ("C2", "C3", "C5")
    }
    tier = PublishedTier("minor", "stereoscope/minor/{sample}.tsv")
    own = {s: root / "stereoscope" / "minor" / f"{s}.tsv" for s in spots}
    tables = check_published(tier, own, spots, 0.8)
    assert [len(t) for t in tables.values()] == [187, 180, 181]
    with pytest.raises(InputError) as err:  # C2's table given to C3: 32 of its 182 spots are C3's
        check_published(tier, {"C3": own["C2"]}, spots, 0.8)
    assert str(err.value).startswith(
        f"{own['C2']}: its spots do not match sample C3's: 32 shared of the table's 187 and the sample's 182 spots"
    )
    assert "put" not in str(err.value) and "tiers.minor.table: 'stereoscope/minor/{sample}.tsv'" in str(err.value)
    # C3 and C5 share 84% of their array positions: the share alone passes, the same table twice does not
    with pytest.raises(InputError, match="samples C3 and C5 are given the same table"):
        check_published(tier, {"C3": own["C3"], "C5": own["C3"]}, spots, 0.8)


def test_types_and_label_map_names_must_exist_on_their_side(tmp_path):
    spots = {"S1": pd.Index(["1x1", "1x2", "2x1"]), "S2": pd.Index(["1x1", "1x2", "2x1"])}
    a = write(tmp_path / "S1.tsv", table())
    b = write(tmp_path / "S2.tsv", table(A=[0.1, 0.2, 0.3], C=[0.9, 0.8, 0.7]))
    with pytest.raises(InputError, match=r"S2.tsv: its cell types differ from .*S1.tsv's: \['B', 'C'\]"):
        check_published(PublishedTier("t", "{sample}.tsv"), {"S1": a, "S2": b}, spots, 0.8)
    with pytest.raises(InputError, match=r"label_map names \['Epithelial'\], which are not cell types of the table"):
        check_published(PublishedTier("t", "{sample}.tsv", label_map={"x": "Epithelial"}), {"S1": a}, spots, 0.8)
    with pytest.raises(
        InputError,
        match=r"label_map names \['Plasmablast'\], which are not labels of the reference's column 'celltype_major'",
    ):
        check_published(
            PublishedTier("t", "{sample}.tsv", "celltype_major", {"Plasmablast": "A"}),
            {"S1": a},
            spots,
            0.8,
            ["Plasmablasts", "T-cells"],
        )


def test_the_preflight_refuses_a_table_of_another_section(tmp_path):
    """her2st.yaml's tier pattern pointed at one section for every sample: refused at dry-run."""
    root = shared("her2st")
    tiers = {"major": {**HER2ST["tiers"]["major"], "table": "stereoscope/major/C2.tsv"}}
    config = config_for(
        tmp_path,
        her2st_rows(),
        base="her2st.yaml",
        data_root=root,
        deconvolution={"reference": {"path": "", "convert_from": ""}},
        published_deconvolution={"tiers": tiers},
    )
    with pytest.raises(InputError) as err:
        check_config(config)
    assert str(err.value).startswith(f"{root}/stereoscope/major/C2.tsv: its spots do not match sample C3's")
    tiers = {"major": HER2ST["tiers"]["major"]}
    config["published_deconvolution"]["tiers"] = tiers
    config["cell_type_models"]["labels"] = {
        "source": "published",
        "tier": "minor",
        "estimate": "q05",
        "kind": "abundance",
    }
    config["cell_type_models"]["models"] = ["cuca"]
    with pytest.raises(
        InputError, match=r"labels: source published, tier 'minor', but published_deconvolution.tiers has \['major'\]"
    ):
        check_config(config)
    config["cell_type_models"]["models"] = []
    check_config(config)  # the sections' own tables pass


# --- the label map --------------------------------------------------------------------------------
def reference_obs():
    """Cells of the Wu atlas's two tiers (as its metadata has them)."""
    rows = (
        [("Cancer Cycling", "Cancer Epithelial")] * 3
        + [("Cancer Basal SC", "Cancer Epithelial")] * 2
        + [
            ("Mature Luminal", "Normal Epithelial"),
            ("Plasmablasts", "Plasmablasts"),
            ("T cells CD4+", "T-cells"),
            ("T cells CD8+", "T-cells"),
        ]
    )
    return pd.DataFrame(rows, columns=["celltype_minor", "celltype_major"])


def test_label_map_at_the_major_tier_sums_minor_types_into_published_names():
    ours = pd.DataFrame(
        {
            "Cancer Cycling": [0.2, 0.1],
            "Cancer Basal SC": [0.1, 0.0],
            "Mature Luminal": [0.1, 0.2],
            "Plasmablasts": [0.4, 0.3],
            "T cells CD4+": [0.1, 0.3],
            "T cells CD8+": [0.1, 0.1],
        },
        index=["s1", "s2"],
    )
    tier = PublishedTier("major", "t", "celltype_major", HER2ST["tiers"]["major"]["label_map"])
    to_tier = tier_of_types(reference_obs(), "celltype_minor", tier)
    assert to_tier == {
        "Cancer Basal SC": "Cancer Epithelial",
        "Cancer Cycling": "Cancer Epithelial",
        "Mature Luminal": "Normal Epithelial",
        "Plasmablasts": "Plasmablasts",
        "T cells CD4+": "T-cells",
        "T cells CD8+": "T-cells",
    }
    major = aggregate(ours, to_tier, tier.label_map)
    assert sorted(major.columns) == ["Epithelial", "Plasma Cells", "T-cells"]
    assert np.allclose(major.loc["s1", ["Epithelial", "Plasma Cells", "T-cells"]], [0.4, 0.4, 0.2])
    assert np.allclose(major.loc["s2", ["Epithelial", "Plasma Cells", "T-cells"]], [0.3, 0.3, 0.4])


def test_label_map_at_the_minor_tier_renames_and_merges():
    ours = pd.DataFrame({"Cancer Cycling": [0.2], "Cancer Basal SC": [0.1], "T cells CD4+": [0.3], "DCs": [0.4]})
    tier = PublishedTier("minor", "t", "celltype_minor", HER2ST["tiers"]["minor"]["label_map"])
    assert tier_of_types(reference_obs(), "celltype_minor", tier) == {}  # the run's own tier: no hierarchy step
    minor = aggregate(ours, {}, tier.label_map)
    assert minor.iloc[0].to_dict() == pytest.approx({"Cancer Epithelial": 0.3, "CD4+ T-cells": 0.3, "DCs": 0.4})
    with pytest.raises(InputError, match="needs the reference's cells, but only signatures are given"):
        tier_of_types(None, "celltype_minor", PublishedTier("major", "t", "celltype_major"))
    # a major-tier run against the minor tables: not comparable type by type
    with pytest.raises(CoarserTypes, match="'Cancer Epithelial' spans 2 of its labels"):
        tier_of_types(reference_obs(), "celltype_major", tier)


# --- the comparison and its floor -----------------------------------------------------------------
def test_comparison_matches_hand_computed_correlations():
    published = pd.DataFrame({"A": [0.1, 0.4, 0.2, 0.8], "B": [0.9, 0.6, 0.8, 0.2]}, index=["a", "b", "c", "d"])
    ours = pd.DataFrame(
        {"A": [0.2, 0.3, 0.1, 0.9, 0.5], "B": [0.8, 0.7, 0.9, 0.1, 0.5]}, index=["a", "b", "c", "d", "extra"]
    )
    rows = compare({"mine": ours}, published, "S1", "major").set_index("type")
    # A: x = (.2,.3,.1,.9), y = (.1,.4,.2,.8), both mean .375: sum dx*dy = .3175, sum dx^2 = .3875, sum dy^2 = .2875
    r_a = 0.3175 / np.sqrt(0.3875 * 0.2875)
    assert rows.loc["A", "pearson"] == pytest.approx(r_a, abs=1e-9)
    assert rows.loc["A", "spearman"] == pytest.approx(0.8)  # ranks (2,3,1,4) vs (1,3,2,4): 1 - 6*2/60
    assert rows.loc["B", "pearson"] == pytest.approx(stats.pearsonr([0.8, 0.7, 0.9, 0.1], [0.9, 0.6, 0.8, 0.2])[0])
    assert rows.loc["mean", "pearson"] == pytest.approx((rows.loc["A", "pearson"] + rows.loc["B", "pearson"]) / 2)
    assert set(rows["n_spots"]) == {4} and set(rows["method"]) == {"mine"}


def test_nnls_floor_recovers_known_mixtures_and_the_check_table_has_both_methods():
    rng = np.random.default_rng(0)
    signatures = pd.DataFrame(rng.gamma(1.0, 1.0, (60, 3)), index=[f"g{i}" for i in range(60)], columns=["A", "B", "C"])
    mix = rng.dirichlet([1, 1, 1], 12)  # cells of each type; spots of different sizes
    counts = pd.DataFrame(
        mix * rng.uniform(10, 60, (12, 1)) @ signatures.T.to_numpy(),
        index=[f"S1:{i}x1" for i in range(12)],
        columns=signatures.index,
    )
    nnls = nnls_proportions(counts, signatures)
    assert np.allclose(nnls.to_numpy(), mix, atol=1e-6)
    published = {"major": {"S1": pd.DataFrame(mix, index=[f"{i}x1" for i in range(12)], columns=["A", "B", "C"])}}
    flat = pd.DataFrame(
        np.full((12, 3), 1 / 3) + rng.normal(0, 0.01, (12, 3)), index=counts.index, columns=["A", "B", "C"]
    )
    sample_of = pd.Series("S1", index=counts.index)
    check = external_check(
        flat, nnls, sample_of, published, {"major": PublishedTier("major", "t")}, {"major": {}}, "cell2location_mean"
    )
    assert list(check.columns) == ["tier", "section", "type", "method", "pearson", "spearman", "n_spots"]
    means = check[check["type"] == "mean"].set_index("method")["pearson"]
    assert means[NNLS] == pytest.approx(1.0) and abs(means["cell2location_mean"]) < 0.9


def test_settings_from_her2st_config():
    settings = PublishedSettings.from_config(HER2ST)
    assert list(settings.tiers) == ["major", "minor"] and settings.estimate == "mean" and settings.map_sample == "C3"
    assert settings.tier("major").path("/d", "C4").as_posix() == "/d/stereoscope/major/C4.tsv"


# --- the real chain, tiny -------------------------------------------------------------------------
TINY = {
    "deconvolution": {
        "regression": {"max_epochs": 30, "num_samples": 50},
        "mapping": {"max_epochs": 200, "lr": 0.01, "num_samples": 50},
    },
    "cell_type_models": {"train": {"epochs": 1, "batch_size": 32}},
    "published_deconvolution": {"map_sample": "C2"},
}


@pytest.mark.workflow
def test_real_subset_reference_on_two_real_sections(tmp_path):
    """The CPU run's three configs on C2 and C3 at tiny settings: the real Wu subset converted,
    cell2location at the minor tier (the published check at both tiers, with its floor and maps) and
    at the major tier (the minor tier is finer: not compared), CUCA and its three baselines on this
    run's labels and on the published minor tier."""
    from tools import her2st_cuca

    from conftest import run_snakemake

    shared("her2st"), shared("wu2021_subset")
    sheet = pd.read_csv(REPO / "config" / "samples_her2st.tsv", sep="\t").iloc[:2]
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t", index=False)
    her2st_cuca.link_data(tmp_path / "data", her2st_cuca.SHARED)
    configs = her2st_cuca.write_configs(tmp_path, tmp_path / "samples.tsv", TINY)
    for dataset, configfile in configs.items():
        r = run_snakemake(["--cores", "2", "--configfile", str(configfile)], tmp_path, timeout=1500)
        assert r.returncode == 0, r.stdout[-4000:]
    out = tmp_path / "results" / "her2st"
    check = pd.read_csv(out / "deconvolution" / "published_check.tsv", sep="\t")
    assert set(check["tier"]) == {"major", "minor"} and set(check["section"]) == {"C2", "C3"}
    assert set(check["method"]) == {"cell2location_mean", NNLS}
    major = set(check.loc[check["tier"] == "major", "type"])
    assert major == {
        "B-cells",
        "CAFs",
        "Endothelial",
        "Epithelial",
        "Myeloid",
        "Plasma Cells",
        "PVL",
        "T-cells",
        "mean",
    }
    assert {"Cancer Epithelial", "Macrophages", "CD4+ T-cells", "mean"} <= set(
        check.loc[check["tier"] == "minor", "type"]
    )
    # a type the NNLS floor estimates as constant has no r, and is left out of the mean
    assert (
        check["pearson"].dropna().between(-1, 1).all() and check.loc[check["type"] == "mean", "pearson"].notna().all()
    )
    assert (check["n_spots"] > 170).all() and check.loc[
        check["method"] == "cell2location_mean", "pearson"
    ].notna().all()
    # the atlas's epithelial types, summed through the label maps, follow the published epithelium:
    # measured: the NNLS floor 0.78 / 0.85 on C2 / C3, the 200-epoch mapping 0.86 / 0.83
    epithelium = check[check["type"] == "Epithelial"].set_index("method")["pearson"]
    assert (epithelium[NNLS] > 0.6).all() and (epithelium["cell2location_mean"] > 0.6).all(), epithelium
    for figure in ("published_check.png", "published_check_maps.png"):
        assert (out / "deconvolution" / figure).stat().st_size > 20_000
    for dataset, target in (("her2st", "cell2location_q05"), ("her2st_published", "published_minor")):
        summary = pd.read_csv(tmp_path / "results" / dataset / "metrics" / "cell_types" / "summary.tsv", sep="\t")
        assert set(summary["target"]) == {target} and set(summary["model"]) == {
            "cuca",
            "cuca_image_only",
            "linear_probe",
            "ridge_probe",
        }
        assert summary["value"].notna().any()
    major = pd.read_csv(tmp_path / "results" / "her2st_major" / "deconvolution" / "published_check.tsv", sep="\t")
    assert (
        set(major["tier"]) == {"major"} and major.loc[major["type"] == "Epithelial", "pearson"].gt(0.6).all()
    )  # 0.86 / 0.82
    labels = tmp_path / "results" / "her2st_published" / "deconvolution" / "published" / "minor" / "C2.h5ad"
    from stpath.deconvolution.output import read_estimate

    assert read_estimate(labels, "published", "proportion").shape == (187, 22)  # every C2 spot, the 2 below QC too
    assert not (tmp_path / "results" / "her2st_published" / "deconvolution" / "C2.h5ad").exists()
