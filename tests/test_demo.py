import numpy as np
import pandas as pd

from stpath.demo import synth
from stpath.demo.celltypes import CELL_TYPES


def test_demo_is_deterministic_and_slides_differ():
    p = synth.DemoSettings(size_px=1024, n_genes=120)
    sig = synth.signatures(5, p.n_genes)
    a = synth.slide(5, "S1", "P1", sig, p)
    b = synth.slide(5, "S1", "P1", sig, p)
    c = synth.slide(5, "S2", "P1", sig, p)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.counts.toarray(), b.counts.toarray())
    assert not np.array_equal(a.image, c.image)


def test_reference_is_labelled_integer_counts():
    p = synth.DemoSettings(n_genes=120, cells_per_type_reference=20)
    ref = synth.reference(1, synth.signatures(1, p.n_genes), p)
    assert ref.obs.cell_type.nunique() == len(CELL_TYPES) >= 6
    assert np.all(ref.X.data == np.round(ref.X.data))


def test_counts_follow_abundances(demo_slide):
    """Marker expression tracks the true number of cells of its type in each spot."""
    d = demo_slide["data"]
    genes = list(demo_slide["sig"].columns)
    counts = pd.DataFrame(d.counts.toarray(), columns=genes, index=d.abundance.index)
    for t in CELL_TYPES[:5]:
        if d.abundance[t.name].std() == 0:
            continue
        marker = counts[list(t.markers)].sum(axis=1)
        assert np.corrcoef(marker, d.abundance[t.name])[0, 1] > 0.5, t.name


def test_image_predicts_composition():
    """Colour/texture features of a spot's patch predict its held-out cell-type abundances linearly:
    the images carry the signal an image model must learn (measured: mean r 0.69-0.73)."""
    p = synth.DemoSettings()
    d = synth.slide(3, "T1", "P1", synth.signatures(3, p.n_genes), p)
    xy = d.spots.loc[d.abundance.index, ["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(int)
    feats = []
    for x, y in xy:
        w = d.image[y - 56 : y + 56, x - 56 : x + 56].reshape(-1, 3).astype(float)
        b = w.mean(1)
        feats.append(np.r_[w.mean(0), w.std(0), (b < 110).mean(), (b > 235).mean(), ((w[:, 0] - w[:, 2]) > 30).mean()])
    F = np.array(feats)
    X = np.c_[(F - F.mean(0)) / (F.std(0) + 1e-9), np.ones(len(F))]
    A = d.abundance.to_numpy()
    idx = np.random.default_rng(0).permutation(len(F))
    train, test = idx[: len(F) // 2], idx[len(F) // 2 :]
    rs = []
    for k in range(A.shape[1]):
        coef = np.linalg.lstsq(X[train], A[train, k], rcond=None)[0]
        rs.append(np.corrcoef(X[test] @ coef, A[test, k])[0, 1])
    assert np.mean(rs) > 0.55, rs
