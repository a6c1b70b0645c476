"""Generate the demo dataset.

Every slide is drawn from smooth cell-type composition fields. Nuclei of each type are placed by
thinning a Poisson process with that type's field, drawn with the type's size, shape and shade,
over the type-weighted cytoplasm/matrix colour (fibrous for stroma, clear vacuoles for fat). Spot
counts are drawn from the very nuclei that fall inside each spot, so the image, the abundances
(saved as ground truth) and the expression agree by construction.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.color import hed_from_rgb, rgb_from_hed
from skimage.draw import disk, ellipse

from .celltypes import CELL_TYPES
from .cohort import job_params

VISIUM_PITCH_UM = 100.0
VISIUM_SPOT_DIAMETER_UM = 55.0
GLASS_RGB = np.array([243, 241, 244], dtype=np.float32)


@dataclass(frozen=True)
class DemoSettings:
    size_px: int = 3072  # slide side at level 0
    um_per_px: float = 0.5
    n_genes: int = 400
    cells_per_type_reference: int = 120
    composition_scale_um: float = 120.0  # correlation length of the composition fields
    composition_sharpness: float = 2.5
    nb_dispersion: float = 8.0  # negative-binomial theta of spot and cell counts

    @classmethod
    def from_config(cls, section: dict) -> "DemoSettings":
        """From the demo section (its generate switch and seed are the workflow's); a cohort's
        ``spots_per_section`` sets the slide side in place of ``size_px``."""
        section = job_params(section)
        return cls(
            size_px=section["size_px"],
            n_genes=section["n_genes"],
            cells_per_type_reference=section["cells_per_type_reference"],
        )


def rng_for(seed: int, *keys) -> np.random.Generator:
    """Independent, reproducible stream per (seed, keys): adding a slide never changes the others."""
    words = [seed] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(words)


# ---------------------------------------------------------------------------------------------
# genes, signatures and the single-cell reference
# ---------------------------------------------------------------------------------------------
def gene_names(n_genes: int) -> list[str]:
    markers = [g for t in CELL_TYPES for g in t.markers]
    fillers = [f"GENE{i:04d}" for i in range(1, n_genes - len(markers) + 1)]
    return markers + fillers


def signatures(seed: int, n_genes: int) -> pd.DataFrame:
    """Expected share of each gene in each type's transcriptome (rows: types, each row sums to 1)."""
    rng = rng_for(seed, "signatures")
    genes = gene_names(n_genes)
    base = rng.lognormal(mean=0.0, sigma=1.2, size=n_genes)
    rows = []
    for t in CELL_TYPES:
        expr = base * rng.lognormal(0.0, 0.6, size=n_genes)
        for g in t.markers:
            expr[genes.index(g)] = base.max() * rng.uniform(1.5, 4.0)
        rows.append(expr / expr.sum())
    return pd.DataFrame(rows, index=[t.name for t in CELL_TYPES], columns=genes)


def nb_counts(rng: np.random.Generator, mu: np.ndarray, theta: float) -> np.ndarray:
    """Negative-binomial counts as a Gamma-Poisson mixture."""
    return rng.poisson(rng.gamma(theta, mu / theta)).astype(np.int32)


def reference(seed: int, sig: pd.DataFrame, params: DemoSettings) -> ad.AnnData:
    """Labelled single-cell reference: integer counts, two donors (batches), a platform effect."""
    rng = rng_for(seed, "reference")
    platform = rng.lognormal(0.0, 0.25, size=sig.shape[1])  # scRNA vs spatial capture differences
    labels, batches, blocks = [], [], []
    for t in CELL_TYPES:
        n = params.cells_per_type_reference
        size = 1500.0 * rng.lognormal(0.0, 0.35, size=(n, 1))
        mu = size * sig.loc[t.name].to_numpy()[None, :] * platform[None, :]
        blocks.append(nb_counts(rng, mu, params.nb_dispersion))
        labels += [t.name] * n
        batches += list(rng.choice(["donor_1", "donor_2"], size=n))
    X = sp.csr_matrix(np.vstack(blocks))
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels), "batch": pd.Categorical(batches)})
    obs.index = [f"cell{i:05d}" for i in range(len(obs))]
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=sig.columns))


# ---------------------------------------------------------------------------------------------
# one slide
# ---------------------------------------------------------------------------------------------
@dataclass
class DemoSlide:
    image: np.ndarray  # (S, S, 3) uint8 at params.um_per_px
    spots: pd.DataFrame  # barcode index; in_tissue, array_row, array_col, pxl_row_in_fullres, pxl_col_in_fullres
    abundance: pd.DataFrame  # in-tissue spots x cell types: number of nuclei inside the spot
    counts: sp.csr_matrix  # in-tissue spots x genes


def composition_fields(rng, n_coarse: int, um_per_coarse: float, patient_bias: np.ndarray, params: DemoSettings):
    """Tissue mask and per-type weights (K, n, n) on a coarse grid."""
    K = len(CELL_TYPES)
    sigma = params.composition_scale_um / um_per_coarse
    z = np.stack([ndi.gaussian_filter(rng.standard_normal((n_coarse, n_coarse)), sigma) for _ in range(K)])
    z /= z.std(axis=(1, 2), keepdims=True)
    logits = params.composition_sharpness * z + patient_bias[:, None, None]
    w = np.exp(logits - logits.max(axis=0, keepdims=True))
    w /= w.sum(axis=0, keepdims=True)

    yy, xx = np.mgrid[0:n_coarse, 0:n_coarse] / n_coarse - 0.5
    a, b = rng.uniform(0.40, 0.46, size=2)
    edge = ndi.gaussian_filter(rng.standard_normal((n_coarse, n_coarse)), n_coarse / 12)
    edge /= edge.std()
    tissue = (xx / a) ** 2 + (yy / b) ** 2 < 1.0 + 0.18 * edge
    tissue = ndi.binary_fill_holes(tissue)
    return tissue, w.astype(np.float32)


def upsample(coarse: np.ndarray, size: int, order: int = 1) -> np.ndarray:
    factor = size / coarse.shape[-1]
    zoom = (1,) * (coarse.ndim - 2) + (factor, factor)
    return ndi.zoom(coarse, zoom, order=order, mode="nearest", grid_mode=True)[..., :size, :size]


def place_nuclei(rng, tissue, w, size_px: int, um_per_px: float):
    """Nucleus centres (level-0 px) and type index, by thinning a Poisson process per type."""
    n = tissue.shape[0]
    area_mm2 = (size_px * um_per_px / 1000.0) ** 2
    xs, ys, kinds = [], [], []
    for k, t in enumerate(CELL_TYPES):
        m = rng.poisson(t.density_per_mm2 * area_mm2)
        x = rng.uniform(0, size_px, m)
        y = rng.uniform(0, size_px, m)
        ci = np.minimum((y / size_px * n).astype(int), n - 1)
        cj = np.minimum((x / size_px * n).astype(int), n - 1)
        keep = tissue[ci, cj] & (rng.uniform(size=m) < w[k, ci, cj])
        xs.append(x[keep])
        ys.append(y[keep])
        kinds.append(np.full(keep.sum(), k))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(kinds)


def render(rng, tissue, w, nuclei, params: DemoSettings) -> np.ndarray:
    S, um = params.size_px, params.um_per_px
    stroma = np.array([t.stroma_rgb for t in CELL_TYPES], dtype=np.float32)  # (K, 3)
    fibre = np.array([t.fibre for t in CELL_TYPES], dtype=np.float32)
    base = upsample(np.einsum("kij,kc->cij", w, stroma), S)  # (3, S, S)
    fibre_w = upsample(np.einsum("kij,k->ij", w, fibre), S)
    tissue_full = upsample(ndi.gaussian_filter(tissue.astype(np.float32), 0.7), S) > 0.5

    # Fibrous eosin: anisotropic noise whose orientation follows a slowly varying angle field.
    noise = rng.standard_normal((S, S)).astype(np.float32)
    along_x = ndi.gaussian_filter(noise, (0.8, 6.0))
    along_y = ndi.gaussian_filter(noise, (6.0, 0.8))
    angle = upsample(ndi.gaussian_filter(rng.standard_normal(tissue.shape), 6) * 3, S)
    fibres = np.cos(angle) ** 2 * along_x + np.sin(angle) ** 2 * along_y
    fibres /= fibres.std() + 1e-6
    base += (fibre_w * fibres * 18.0)[None] * np.array([0.3, 1.0, 0.6], dtype=np.float32)[:, None, None]

    img = base
    xs, ys, kinds = nuclei
    alpha = np.zeros((S, S), dtype=np.float32)
    nuc_rgb = np.zeros((3, S, S), dtype=np.float32)
    for x, y, k in zip(xs, ys, kinds):
        t = CELL_TYPES[k]
        if t.vacuole_um:  # a clear lipid droplet with a thin membrane, nucleus pushed to its rim
            r = t.vacuole_um / um * rng.uniform(0.8, 1.2)
            rr, cc = disk((y, x), r + 1.5, shape=(S, S))
            img[:, rr, cc] = np.array([232, 180, 205], dtype=np.float32)[:, None]
            rr, cc = disk((y, x), r, shape=(S, S))
            img[:, rr, cc] = np.array([252, 249, 251], dtype=np.float32)[:, None]
            theta = rng.uniform(0, 2 * np.pi)
            x, y = x + r * np.cos(theta), y + r * np.sin(theta)
        a, b = (v / um * rng.uniform(0.85, 1.15) for v in t.nucleus_um)
        rr, cc = ellipse(y, x, a, b, shape=(S, S), rotation=rng.uniform(0, np.pi))
        alpha[rr, cc] = rng.uniform(0.75, 0.95)
        nuc_rgb[:, rr, cc] = (np.array(t.nucleus_rgb) + rng.normal(0, 8, 3))[:, None]
    alpha = ndi.gaussian_filter(alpha, 0.8)
    img = img * (1 - alpha) + nuc_rgb * alpha
    img += rng.normal(0, 5.0, size=img.shape).astype(np.float32)
    glass = GLASS_RGB[:, None, None] + rng.normal(0, 2.0, size=(3, S, S)).astype(np.float32)
    img = np.where(tissue_full[None], img, glass)
    img = ndi.gaussian_filter(img, (0, 0.6, 0.6))
    return np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def patient_stain(image: np.ndarray, seed: int, patient: str, strength: float = 0.25, hue: float = 0.05) -> np.ndarray:
    """The image as the patient's lab stains it: haematoxylin and eosin amounts scaled by
    log-normal factors (sd ``strength``) and their colours moved (``hue``: sd of the change of
    each stain's optical-density vector), by colour deconvolution with scikit-image's matrices."""
    rng = rng_for(seed, "stain", patient)
    light = GLASS_RGB  # the light through bare glass: optical density 0, left as it is
    od = -np.log(np.minimum(np.maximum(image.astype(np.float32), 1.0), light) / light)
    concentrations = od @ hed_from_rgb
    concentrations[..., :2] *= rng.lognormal(0.0, strength, size=2)
    vectors = rgb_from_hed.copy()
    vectors[:2] = np.abs(vectors[:2] + rng.normal(0.0, hue, size=(2, 3)))
    vectors[:2] /= np.linalg.norm(vectors[:2], axis=1, keepdims=True)
    out = light * np.exp(-(concentrations @ vectors))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def visium_grid(size_px: int, um_per_px: float, margin_um: float = 150.0) -> pd.DataFrame:
    """Hexagonal Visium array (100 um pitch) over the slide, Space Ranger naming and columns."""
    pitch = VISIUM_PITCH_UM / um_per_px
    row_step = pitch * np.sqrt(3) / 2
    margin = margin_um / um_per_px
    rows = []
    r = 0
    while margin + r * row_step <= size_px - margin:
        y = margin + r * row_step
        c = 0
        while True:
            x = margin + (c + 0.5 * (r % 2)) * pitch
            if x > size_px - margin:
                break
            rows.append((r, 2 * c + r % 2, y, x))
            c += 1
        r += 1
    grid = pd.DataFrame(rows, columns=["array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"])
    grid.index = [f"R{a:03d}C{b:03d}-1" for a, b in zip(grid.array_row, grid.array_col)]
    grid.index.name = "barcode"
    return grid


UM_PER_COARSE = 8.0  # the composition fields' grid


def layout(seed: int, sample: str, patient: str, params: DemoSettings):
    """A slide's random stream after its tissue and composition are drawn, the tissue mask and
    type weights on the coarse grid, and the Visium array with its ``in_tissue`` flags: what fixes
    how many spots a slide has, without drawing its nuclei or image."""
    rng = rng_for(seed, "slide", sample)
    patient_bias = rng_for(seed, "patient", patient).normal(0.0, 0.6, size=len(CELL_TYPES))
    n_coarse = int(round(params.size_px * params.um_per_px / UM_PER_COARSE))
    tissue, w = composition_fields(rng, n_coarse, UM_PER_COARSE, patient_bias, params)
    grid = visium_grid(params.size_px, params.um_per_px)
    centres = grid[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy()
    ci = np.minimum((centres[:, 1] / params.size_px * n_coarse).astype(int), n_coarse - 1)
    cj = np.minimum((centres[:, 0] / params.size_px * n_coarse).astype(int), n_coarse - 1)
    grid.insert(0, "in_tissue", tissue[ci, cj].astype(int))
    grid[["pxl_row_in_fullres", "pxl_col_in_fullres"]] = np.rint(
        grid[["pxl_row_in_fullres", "pxl_col_in_fullres"]]
    ).astype(int)
    return rng, tissue, w, grid


def slide(seed: int, sample: str, patient: str, sig: pd.DataFrame, params: DemoSettings) -> DemoSlide:
    rng, tissue, w, grid = layout(seed, sample, patient, params)
    xs, ys, kinds = place_nuclei(rng, tissue, w, params.size_px, params.um_per_px)
    image = patient_stain(render(rng, tissue, w, (xs, ys, kinds), params), seed, patient)

    spots = grid[grid.in_tissue == 1]
    radius = VISIUM_SPOT_DIAMETER_UM / 2 / params.um_per_px
    centres = spots[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(float)
    abundance = np.zeros((len(spots), len(CELL_TYPES)))
    for k in range(len(CELL_TYPES)):
        tree = cKDTree(np.c_[xs[kinds == k], ys[kinds == k]])
        abundance[:, k] = [len(v) for v in tree.query_ball_point(centres, radius)]
    abundance = pd.DataFrame(abundance, index=spots.index, columns=[t.name for t in CELL_TYPES])

    umi = np.array([t.umi_per_cell for t in CELL_TYPES])
    capture = rng.lognormal(0.0, 0.2, size=(len(spots), 1))  # per-spot capture efficiency
    gene_bias = rng.lognormal(0.0, 0.2, size=(1, sig.shape[1]))  # per-slide technical gene effect
    mu = (abundance.to_numpy() * umi) @ sig.to_numpy()
    mu = (mu + 20.0 * sig.to_numpy().mean(axis=0)) * capture * gene_bias  # + ambient RNA
    counts = sp.csr_matrix(nb_counts(rng, mu, params.nb_dispersion))
    return DemoSlide(image, grid, abundance, counts)
