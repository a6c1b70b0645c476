import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from stpath.errors import InputError
from stpath.genes import selection as genes
from stpath.ingest.folds import assign_folds, feasible_schemes


def make(names, seed, n=40):
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(rng.poisson(rng.gamma(1.0, 3.0, size=len(names)), size=(n, len(names))).astype(np.int32))
    return ad.AnnData(X=X, var=pd.DataFrame(index=names))


def test_shared_genes_keep_order_and_refuse_mismatch():
    a, b = make(["A", "B", "C", "D"], 0), make(["D", "C", "A", "X"], 1)
    assert genes.shared_genes([a, b]) == ["A", "C", "D"]
    with pytest.raises(InputError, match="only 3 genes are shared.*Fix: use the same gene naming"):
        genes.shared_genes([a, b], min_shared=4)


def test_normalise_is_normalize_total_log1p():
    a = make([f"G{i}" for i in range(30)], 2)
    n = genes.normalise(a)
    totals = np.asarray(a.X.sum(1)).ravel()
    expected = np.log1p(a.X.toarray() / totals[:, None] * np.median(totals))
    assert np.allclose(n.X.toarray() if sp.issparse(n.X) else n.X, expected, atol=1e-4)
    assert np.array_equal(n.layers["counts"].toarray(), a.X.toarray())


def test_hvg_union_and_top_expressed():
    names = [f"G{i}" for i in range(200)]
    normed = [genes.normalise(make(names, s)) for s in (3, 4)]
    hvg = genes.hvg_union(normed, names, 20)
    per_slide = []
    import scanpy as sc

    for a in normed:
        x = a.copy()
        sc.pp.highly_variable_genes(x, n_top_genes=20, flavor="seurat")
        per_slide.append(set(x.var_names[x.var.highly_variable]))
    assert set(hvg) == per_slide[0] | per_slide[1]
    top = genes.top_expressed(normed, names, 10)
    means = np.mean([np.asarray(a.X.mean(0)).ravel() for a in normed], axis=0)
    assert set(top) == {names[i] for i in np.argsort(-means)[:10]}


def sheet():
    return pd.DataFrame({"sample": [f"S{i}" for i in range(6)], "patient": ["A", "A", "B", "B", "C", "C"]})


def test_patient_folds_never_split_a_patient():
    f = assign_folds(sheet(), "patient", 0, seed=0)
    assert f.fold.nunique() == 3
    for fold, g in f.groupby("fold"):
        test_patients = set(g[g.role == "test"].patient)
        train_patients = set(g[g.role == "train"].patient)
        assert len(test_patients) == 1 and not test_patients & train_patients
    assert f.equals(assign_folds(sheet(), "patient", 0, seed=0))  # seeded, deterministic
    assert sorted(assign_folds(sheet(), "patient", 2, seed=1).groupby("fold").size()) == [6, 6]


def test_leave_one_slide_out():
    f = assign_folds(sheet(), "leave_one_slide_out", 0, seed=0)
    assert f.fold.nunique() == 6
    assert (f[f.role == "test"].groupby("fold").size() == 1).all()
    assert feasible_schemes(sheet().assign(patient="C")) == ["leave_one_slide_out"]


def test_headline_averages_slides_within_each_fold_then_folds_as_released():
    """Fold 0 holds out three slides (r 0.1, 0.2, 0.3), fold 1 one (r 0.9): the releases report
    (0.2 + 0.9) / 2 = 0.55, where the mean over all four (fold, slide) rows would be 0.375."""
    from stpath.metrics import COLUMNS, headline

    rows = [
        ("cmrcnet", "expression", "HEG", "per_slide", f, s, "pearson_mean", v)
        for f, s, v in ((0, "A1", 0.1), (0, "A2", 0.2), (0, "A3", 0.3), (1, "B1", 0.9))
    ]
    rows.append(("cmrcnet", "expression", "HEG", "pooled", 0, "all", "pearson_mean", 0.5))
    out = headline(pd.DataFrame(rows, columns=COLUMNS)).set_index("metric")
    assert out.loc["pearson_mean", "value"] == pytest.approx(0.55)
    assert out.loc["pearson_mean", "n_folds"] == 2 and out.loc["pearson_mean", "n_slides"] == 4


def test_landing_table_is_each_branchs_main_metric_in_the_released_order():
    """The report's landing page: per model and target, one column per gene set of per-slide Pearson
    averaged over each fold's slides then over folds; other metrics and protocols are left out."""
    from stpath.metrics import landing_table

    rows = []
    for model, target, gene_set, values in (
        ("cmrcnet", "expression", "heg50", {(0, "A"): 0.2, (0, "B"): 0.4, (1, "C"): 0.6}),
        ("cuca", "cell2location_q05", "cell_types", {(0, "A"): 0.5, (1, "C"): 0.7}),
    ):
        for (fold, sample), value in values.items():
            rows.append(
                dict(
                    model=model,
                    target=target,
                    gene_set=gene_set,
                    protocol="per_slide",
                    patients="within-patient",
                    fold=fold,
                    test_sample=sample,
                    metric="pearson_mean",
                    value=value,
                )
            )
            rows.append(dict(rows[-1], metric="jsd_mean", value=9.0))
            rows.append(dict(rows[-2], protocol="pooled", value=9.0))
    rows.append(dict(rows[0], gene_set="hvg50", value=0.1))
    table = landing_table(pd.DataFrame(rows))
    assert table.fillna("-").to_dict("records") == [
        dict(target="cell2location_q05", model="cuca", patients="within-patient", heg50="-", cell_types=0.6, hvg50="-"),
        dict(target="expression", model="cmrcnet", patients="within-patient", heg50=0.45, cell_types="-", hvg50=0.1),
    ]
