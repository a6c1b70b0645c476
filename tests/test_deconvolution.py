"""Deconvolution library: reference loading and its checks, signature tables, the joint spatial
input, a short real cell2location fit, and the evaluation helpers."""

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from stpath.deconvolution import checks, mapping, output
from stpath.deconvolution.reference import (
    GeneFilter,
    ReferenceSpec,
    RegressionSettings,
    fit_signatures,
    load_reference,
)
from stpath.deconvolution.signatures import read_signatures
from stpath.demo import synth
from stpath.demo.celltypes import CELL_TYPES
from stpath.errors import InputError
from stpath.ingest.readers import read_spots

from conftest import shared

PARAMS = synth.DemoSettings(n_genes=150, cells_per_type_reference=40)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("decon")
    sig = synth.signatures(5, PARAMS.n_genes)
    ref = synth.reference(5, sig, PARAMS)
    ref.write_h5ad(root / "ref.h5ad")
    return {"root": root, "sig": sig, "ref": ref}


def spec(path, **kw):
    return ReferenceSpec(path=Path(path), label_column=kw.pop("label_column", "cell_type"), **kw)


def test_reference_h5ad_loads_labels_and_batches(demo):
    ref = load_reference(spec(demo["root"] / "ref.h5ad", batch_column="batch"))
    assert list(ref.obs["label"].cat.categories) == sorted(t.name for t in CELL_TYPES)
    assert set(ref.obs["batch"]) == {"donor_1", "donor_2"}
    assert ref.X.dtype == np.int32


def test_reference_without_the_label_column(demo):
    with pytest.raises(InputError) as err:
        load_reference(spec(demo["root"] / "ref.h5ad", label_column="celltype"))
    msg = str(err.value)
    assert "ref.h5ad" in msg and "no column 'celltype'" in msg and "'cell_type'" in msg and "label_column" in msg


def test_reference_with_a_single_type(demo, tmp_path):
    one = demo["ref"].copy()
    one.obs["cell_type"] = "Tumour_epithelial"
    one.write_h5ad(tmp_path / "one.h5ad")
    with pytest.raises(InputError, match=r"one.h5ad: column 'cell_type' holds a single cell type .*Fix:"):
        load_reference(spec(tmp_path / "one.h5ad"))


def test_reference_with_normalised_counts(demo, tmp_path):
    norm = demo["ref"].copy()
    norm.X = norm.X.astype(np.float32) / 3.0
    norm.write_h5ad(tmp_path / "norm.h5ad")
    with pytest.raises(InputError, match=r"norm.h5ad: counts are not raw non-negative integers.*layer"):
        load_reference(spec(tmp_path / "norm.h5ad"))
    norm.layers["counts"] = demo["ref"].X.copy()  # the fix the message names
    norm.write_h5ad(tmp_path / "norm.h5ad")
    assert load_reference(spec(tmp_path / "norm.h5ad", layer="counts")).n_obs == demo["ref"].n_obs


def test_reference_counts_table_with_labels_table():
    root = shared("spacexr_hippocampus", "reference")
    ref = load_reference(spec(root / "counts.csv", labels=root / "cell_types.csv", label_column="x"))
    assert ref.shape == (510, 307)
    assert ref.obs["label"].nunique() == 17 and (ref.obs["label"].value_counts() == 30).all()


def test_unlabelled_reference_cells_are_refused_above_a_share_and_said_below(tmp_path, caplog):
    """The real hippocampus reference with its labels table: two thirds of the cells without a
    label (whole types among them) are refused at load, naming the share and the types left; a
    few are dropped with a warning (in the run's console summary)."""
    root = shared("spacexr_hippocampus", "reference")
    labels = pd.read_csv(root / "cell_types.csv", index_col=0)
    column = labels.columns[0]
    lost = labels.index[labels[column].isin(sorted(labels[column].unique())[:11])]  # 11 of 17 types
    blank = labels.copy()
    blank.loc[lost, column] = ""
    blank.to_csv(tmp_path / "blank.csv")
    with pytest.raises(InputError) as err:
        load_reference(spec(root / "counts.csv", labels=tmp_path / "blank.csv", label_column=column))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'blank.csv'}: 330 of 510 reference cells (65%) have no row in the labels")
    assert "hold 6 cell type(s)" in message and "raise deconvolution.reference.max_unlabelled (0.1)" in message
    few = labels.drop(labels.index[:20])  # 20 cells with no row
    few.to_csv(tmp_path / "few.csv")
    with caplog.at_level(logging.WARNING):
        ref = load_reference(spec(root / "counts.csv", labels=tmp_path / "few.csv", label_column=column))
    assert ref.n_obs == 490 and "20 of 510 reference cells (4%) have no row in the labels table" in caplog.text


def cellxgene_file(path, with_raw=True):
    """The real Wu et al. subset written in the CELLxGENE schema: Ensembl-style ids in the index,
    symbols in feature_name, raw counts in raw.X, log-normalised X, Cell Ontology-style labels in
    cell_type, donors in donor_id, a schema version."""
    import scanpy as sc

    from stpath.deconvolution.atlas import read_wu2021

    wu = read_wu2021(shared("wu2021_subset", "GSE176078_Wu_etal_2021_BRCA_scRNASeq_CID4465_subset.tar.gz"))
    ids = [f"ENSG{i:011d}" for i in range(wu.n_vars)]
    names = {"T-cells": "T cell", "B-cells": "B cell", "Endothelial": "endothelial cell", "CAFs": "fibroblast"}
    obs = pd.DataFrame(
        {
            "cell_type": wu.obs["celltype_major"].astype(str).map(lambda t: names.get(t, t.lower())).to_numpy(),
            "donor_id": wu.obs["Patient"].astype(str).to_numpy(),
        },
        index=wu.obs_names,
    )
    raw = ad.AnnData(X=wu.X.copy(), obs=obs, var=pd.DataFrame({"feature_name": wu.var_names}, index=ids))
    out = raw.copy()
    sc.pp.normalize_total(out, target_sum=1e4)
    sc.pp.log1p(out)
    if with_raw:
        out.raw = raw
    out.uns["schema_version"] = "5.0.0"
    out.write_h5ad(path)
    return wu


def test_a_cellxgene_file_is_read_as_a_reference_from_its_raw_counts(tmp_path):
    """The portal's layout (the Human Breast Cell Atlas is published in it): raw counts from raw.X,
    gene symbols from feature_name, labels from cell_type, donors from donor_id; a file with only
    its normalised X is refused with the fix."""
    wu = cellxgene_file(tmp_path / "atlas.h5ad")
    ref = load_reference(spec(tmp_path / "atlas.h5ad", label_column="cell_type", batch_column="donor_id"))
    assert ref.n_obs == wu.n_obs and list(ref.var_names[:3]) == list(wu.var_names[:3])
    assert (ref.X != wu.X.astype(ref.X.dtype)).nnz == 0  # the raw counts, not X's normalised values
    assert "T cell" in set(ref.obs["label"]) and set(ref.obs["batch"]) == {"CID4465"}
    cellxgene_file(tmp_path / "normalised.h5ad", with_raw=False)
    with pytest.raises(InputError) as err:
        load_reference(spec(tmp_path / "normalised.h5ad"))
    assert "whose X is normalised and that has no raw.X" in str(
        err.value
    ) and "Fix: download the dataset's file" in str(err.value)


def test_spatial_counts_table_reader():
    root = shared("spacexr_hippocampus", "spatial")
    table = read_spots("counts_table", root / "counts.csv", root / "coords.csv")
    assert table.adata.shape == (313, 276)
    coords = pd.read_csv(root / "coords.csv", index_col=0)
    assert np.array_equal(table.adata.obsm["spatial"], coords.loc[table.adata.obs_names, ["x", "y"]].to_numpy())


def spatial_samples(sig, n_spots=60):
    rng = np.random.default_rng(0)
    out = []
    for name in ("A", "B"):
        abundance = rng.poisson(2.0, size=(n_spots, sig.shape[0]))
        mu = abundance @ (sig.to_numpy() * 400)
        a = ad.AnnData(
            X=rng.poisson(mu).astype(np.int32),
            obs=pd.DataFrame(index=[f"s{i}" for i in range(n_spots)]),
            var=pd.DataFrame(index=sig.columns),
        )
        a.obs["sample"] = name
        a.obsm["truth"] = pd.DataFrame(abundance, index=a.obs_names, columns=sig.index)
        out.append(a)
    return out


def test_too_few_genes_shared_with_the_signatures(demo):
    sig = demo["sig"].T
    renamed = sig.set_axis([f"ENSG{i:011d}" for i in range(len(sig))], axis=0)
    with pytest.raises(InputError) as err:
        mapping.spatial_input(spatial_samples(demo["sig"]), renamed, 100, "my_signatures.csv")
    msg = str(err.value)
    assert msg.startswith("my_signatures.csv: only 0 genes are shared") and "at least 100" in msg
    assert "min_shared_genes" in msg and "Ensembl" in msg


def test_signature_table_checks(tmp_path, demo):
    good = demo["sig"].T * 100
    good.to_csv(tmp_path / "sig.csv")
    table = read_signatures(tmp_path / "sig.csv")
    assert table.shape == good.shape and table.index.name == "gene"
    bad = good.astype(object)
    bad.iloc[3, 2] = "high"
    bad.to_csv(tmp_path / "bad.csv")
    with pytest.raises(InputError, match=rf"bad.csv: column '{good.columns[2]}' has missing or non-numeric values"):
        read_signatures(tmp_path / "bad.csv")
    good.iloc[:, :1].to_csv(tmp_path / "one.csv")
    with pytest.raises(InputError, match="1 cell-type column"):
        read_signatures(tmp_path / "one.csv")


def test_joint_input_prefixes_spots_and_drops_mito_genes(demo):
    samples = spatial_samples(demo["sig"])
    samples = [a[:, :].copy() for a in samples]
    for a in samples:
        a.var_names = ["MT-CO1"] + list(a.var_names[1:])
    joint, sig = mapping.spatial_input(samples, demo["sig"].T, 10, "sig")
    assert joint.n_obs == 120 and "MT-CO1" not in joint.var_names
    assert joint.obs_names[0] == "A:s0" and joint.obs_names[-1] == "B:s59"
    assert list(sig.index) == list(joint.var_names)


def test_short_real_fit_recovers_abundances(demo):
    """A few hundred epochs of the real models on a toy problem: outputs are shaped and sensible."""
    import torch

    torch.set_num_threads(2)
    ref = load_reference(spec(demo["root"] / "ref.h5ad", batch_column="batch"))
    signatures, history = fit_signatures(ref, GeneFilter(), RegressionSettings(max_epochs=60, num_samples=20), "cpu", 0)
    assert signatures.shape[1] == len(CELL_TYPES) and (signatures.to_numpy() >= 0).all()
    assert len(history) == 60 and history.iloc[-1] < history.iloc[0]
    samples = spatial_samples(demo["sig"])
    joint, sig = mapping.spatial_input(samples, signatures, 50, "sig")
    params = mapping.MappingSettings(N_cells_per_location=12, max_epochs=400, lr=0.01, num_samples=20)
    model = mapping.fit(joint, sig, params, "cpu", 0)
    estimates = mapping.export(model, joint, params, "cpu")
    assert set(estimates) == set(output.ESTIMATES)
    q05, q95 = estimates["q05"], estimates["q95"]
    assert (q05.to_numpy() <= q95.to_numpy() + 1e-6).all()
    truth = pd.concat(
        [a.obsm["truth"].set_axis([f"{a.obs['sample'].iloc[0]}:{s}" for s in a.obs_names]) for a in samples]
    )
    r = [checks.pearson(estimates["mean"][t], truth[t]) for t in truth.columns]
    assert np.mean(r) > 0.5, r

    obsm, table = output.sample_tables(estimates, "B", samples[1].obs_names)
    assert np.allclose(obsm["proportion_mean"].sum(axis=1), 1.0)
    assert list(obsm["abundance_q05"].index) == list(samples[1].obs_names)
    assert set(table.estimate) == {f"{k}_{e}" for k in ("abundance", "proportion") for e in output.ESTIMATES}


def test_marker_genes_are_the_planted_markers(demo):
    sig = demo["sig"].T  # genes x types
    markers = checks.marker_genes(sig, sig.index, 5)
    for t in CELL_TYPES:
        assert len(markers[t.name]) == 5 and set(markers[t.name]) <= set(t.markers), t.name


def test_accuracy_is_one_for_the_truth_and_drops_with_noise():
    rng = np.random.default_rng(1)
    truth = pd.DataFrame(
        rng.poisson(3, size=(200, 4)), columns=list("abcd"), index=[f"x:{i}" for i in range(200)]
    ).astype(float)
    sample_of = pd.Series(["x"] * 200, index=truth.index)
    table = checks.accuracy({"mean": truth, "noisy": truth + rng.normal(0, 3, truth.shape)}, truth, sample_of)
    mean = table[(table.cell_type == "mean") & (table["sample"] == "all")].set_index(["estimate", "measure"]).pearson_r
    assert mean["mean", "abundance"] == pytest.approx(1.0) and mean["mean", "proportion"] == pytest.approx(1.0)
    assert mean["noisy", "abundance"] < 0.8
