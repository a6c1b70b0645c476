"""The breast cancer single-cell atlas of Wu et al., Nat Genet 2021 (GEO GSE176078), the reference
of the CUCA paper: read from its published archive (``GSE176078_Wu_etal_2021_BRCA_scRNASeq.tar.gz``)
into the reference AnnData the deconvolution reads (``reference.load_reference``): raw counts,
cells x genes, and in ``obs`` the three annotation tiers and the patient. ``write_wu2021_archive``
writes that layout (for tests and offline runs)."""

from __future__ import annotations

import io
import logging
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import anndata as ad
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from ..atomic import atomic_path
from ..errors import InputError
from ..ingest.tables import check_raw_counts, check_unique

log = logging.getLogger(__name__)

MATRIX, GENES, BARCODES, METADATA = (
    "count_matrix_sparse.mtx",
    "count_matrix_genes.tsv",
    "count_matrix_barcodes.tsv",
    "metadata.csv",
)
TIERS = ["celltype_major", "celltype_minor", "celltype_subset"]
PATIENT = "Patient"
FIX = (
    "give the GEO file GSE176078_Wu_etal_2021_BRCA_scRNASeq.tar.gz as published (deconvolution.reference.convert_from)"
)


def _members(tar: tarfile.TarFile, archive: Path) -> dict[str, tarfile.TarInfo]:
    found = {PurePosixPath(m.name).name: m for m in tar.getmembers() if m.isfile()}
    missing = [n for n in (MATRIX, GENES, BARCODES, METADATA) if n not in found]
    if missing:
        raise InputError(
            archive,
            f"the archive lacks {', '.join(missing)} (GSE176078 layout: {MATRIX}, {GENES}, {BARCODES}, {METADATA})",
            FIX,
        )
    return found


def _names(tar: tarfile.TarFile, member: tarfile.TarInfo) -> pd.Index:
    with tar.extractfile(member) as f:
        return pd.Index(pd.read_csv(f, sep="\t", header=None, usecols=[0], dtype=str).iloc[:, 0].to_numpy())


def read_wu2021(archive: str | Path, workdir: str | Path | None = None) -> ad.AnnData:
    """The atlas as AnnData. The Matrix Market file (genes x cells, about 3 GB) is unpacked into
    ``workdir`` (a scratch folder beside the output) rather than read in memory."""
    archive = Path(archive)
    try:
        tar = tarfile.open(archive)
    except tarfile.TarError as exc:
        raise InputError(archive, f"not a readable tar archive ({exc})", FIX) from None
    with tar, tempfile.TemporaryDirectory(dir=workdir) as scratch:
        members = _members(tar, archive)
        genes, barcodes = _names(tar, members[GENES]), _names(tar, members[BARCODES])
        with tar.extractfile(members[METADATA]) as f:
            metadata = pd.read_csv(f, index_col=0)
        log.info("%s: %d genes, %d cells; unpacking the count matrix", archive.name, len(genes), len(barcodes))
        tar.extract(members[MATRIX], scratch, filter="data")
        counts = scipy.io.mmread(Path(scratch) / members[MATRIX].name)
    if counts.shape == (len(genes), len(barcodes)):
        counts = counts.T
    elif counts.shape != (len(barcodes), len(genes)):
        raise InputError(
            archive,
            f"{MATRIX} is {counts.shape[0]} x {counts.shape[1]}, but there are {len(genes)} genes and {len(barcodes)} barcodes",
            FIX,
        )
    check_unique(barcodes, archive, "cell barcodes")
    absent = barcodes.difference(metadata.index)
    if len(absent):
        raise InputError(
            archive, f"{len(absent)} cells of {BARCODES} have no row in {METADATA} (e.g. {list(absent[:3])})", FIX
        )
    obs = metadata.loc[barcodes].rename_axis(None)
    missing = [t for t in TIERS if t not in obs]
    if missing:
        raise InputError(archive, f"{METADATA} lacks the annotation columns {missing}", FIX)
    if PATIENT not in obs:  # the published table names the patient orig.ident (e.g. CID3586)
        obs[PATIENT] = obs["orig.ident"] if "orig.ident" in obs else barcodes.str.split("_").str[0]
    obs = obs.astype({c: "category" for c in [*TIERS, PATIENT]})
    adata = ad.AnnData(
        X=check_raw_counts(counts, archive, FIX).astype(np.float32), obs=obs, var=pd.DataFrame(index=genes.astype(str))
    )
    adata.var_names_make_unique()
    adata.uns["source"] = {
        "archive": archive.name,
        "geo": "GSE176078",
        "citation": "Wu et al., Nat Genet 53, 1334-1347 (2021)",
    }
    return adata


def convert_wu2021(archive: str | Path, out: str | Path) -> ad.AnnData:
    """Write the atlas as the reference .h5ad at ``out`` (whole or not at all)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    adata = read_wu2021(archive, workdir=out.parent)
    with atomic_path(out) as tmp:
        adata.write_h5ad(tmp)
    counts = adata.obs["celltype_minor"].value_counts()
    log.info(
        "%s: %d cells x %d genes, %d patients, %d minor cell types (smallest %s: %d cells)",
        out,
        adata.n_obs,
        adata.n_vars,
        adata.obs[PATIENT].nunique(),
        len(counts),
        counts.index[-1],
        counts.iloc[-1],
    )
    return adata


def write_wu2021_archive(path: str | Path, counts, genes, metadata: pd.DataFrame) -> None:
    """An archive in the published layout: ``counts`` cells x genes (raw), ``metadata`` indexed by
    barcode with ``orig.ident`` and the tiers; the matrix is written genes x cells, as published."""
    mtx = io.BytesIO()
    scipy.io.mmwrite(mtx, sp.coo_matrix(sp.csr_matrix(counts).T))
    files = {
        MATRIX: mtx.getvalue(),
        GENES: "".join(f"{g}\n" for g in genes).encode(),
        BARCODES: "".join(f"{b}\n" for b in metadata.index).encode(),
        METADATA: metadata.to_csv().encode(),
    }
    with atomic_path(path) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"Wu_etal_2021_BRCA_scRNASeq/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
