"""Downloads for real, without the internet: a local HTTP server on 127.0.0.1 serves the shared
HER2ST files and a small synthetic archive in the exact layout of GEO GSE176078 at the paths of their
public URLs; config/her2st_full.yaml, with its URLs pointed at that server, fetches, verifies and
converts them through the workflow's rules."""

import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from stpath.checks import check_schema
from stpath.deconvolution.atlas import read_wu2021, write_wu2021_archive
from stpath.errors import InputError
from stpath.ingest.download import Download, download, downloads_of, extract_member, pending_archives, pending_downloads
from tools.mirror import mirror_downloads, point_downloads_at, serve

from conftest import REPO, SHARED, run_snakemake, shared, training_jobs

HER2ST = SHARED / "her2st"
COMMIT = "85df7411b987a7dec3feff9718b869a7a82091ec"
SECTIONS = ["C2", "C3"]
GEO = "ftp.ncbi.nlm.nih.gov/geo/series/GSE176nnn/GSE176078/suppl/GSE176078_Wu_etal_2021_BRCA_scRNASeq.tar.gz"
TIERS = {
    "celltype_major": ["T-cells", "Cancer Epithelial", "CAFs"],
    "celltype_minor": ["T cells CD8+", "Cancer Basal SC", "CAFs MSC iCAF-like"],
}


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_synthetic_wu2021(path: Path, n_cells=40, n_genes=30, drop=(), seed=0) -> tuple[np.ndarray, pd.DataFrame]:
    """A small archive in the GSE176078 layout (cells of two patients, three types); ``drop``
    then removes members, to make a damaged one."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(2.0, (n_cells, n_genes)).astype(np.int64)
    patients = np.array(["CID3586", "CID4465"])[np.arange(n_cells) % 2]
    kind = np.arange(n_cells) % 3
    metadata = pd.DataFrame(
        {
            "orig.ident": patients,
            "nCount_RNA": counts.sum(1),
            "nFeature_RNA": (counts > 0).sum(1),
            "percent.mito": 0.0,
            "subtype": "HER2+",
            "celltype_subset": [f"subset {k}" for k in kind],
            "celltype_minor": np.array(TIERS["celltype_minor"])[kind],
            "celltype_major": np.array(TIERS["celltype_major"])[kind],
        },
        index=[f"{p}_{''.join(rng.choice(list('ACGT'), 16))}" for p in patients],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wu2021_archive(path, counts, [f"GENE{i}" for i in range(n_genes)], metadata)
    if drop:
        with tarfile.open(path) as tar:
            kept = [(m, tar.extractfile(m).read()) for m in tar.getmembers() if Path(m.name).name not in drop]
        with tarfile.open(path, "w:gz") as tar:
            for member, data in kept:
                tar.addfile(member, io.BytesIO(data))
    return counts, metadata


def full_config() -> dict:
    return yaml.safe_load((REPO / "config" / "her2st_full.yaml").read_text())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, served folder): the full config's files of the shared sections at the paths of
    their public URLs (host first), the images inside a repository archive, and a synthetic atlas."""
    www = tmp_path_factory.mktemp("www")
    entries = {
        rel: d for rel, d in downloads_of(full_config()).items() if re.search(r"/(%s)[._]" % "|".join(SECTIONS), rel)
    }
    mirror_downloads(www, entries, shared("her2st"))
    write_synthetic_wu2021(www / GEO)
    with serve(www) as base:
        yield base, www


def local_full_config(base: str, tmp_path: Path, sections=SECTIONS) -> Path:
    """config/her2st_full.yaml with its URLs on the local server, its sheet and downloads cut to
    ``sections`` (and the atlas), folds that one patient allows, and a stand-in for Virchow2's weight file."""
    config = full_config()
    keep = {
        rel: e
        for rel, e in config["downloads"].items()
        if rel.startswith("archives/") or re.search(r"/(%s)[._]" % "|".join(sections), rel)
    }
    config["downloads"] = point_downloads_at(keep, base)
    sheet = pd.read_csv(REPO / config["samples"], sep="\t", dtype=str, keep_default_na=False)
    config["samples"] = str(tmp_path / "samples.tsv")
    sheet[sheet["sample"].isin(sections)].to_csv(config["samples"], sep="\t", index=False)
    config["data_root"] = str(tmp_path / "data")
    config["folds"] = {"scheme": "leave_one_slide_out"}  # the shared sections are of one patient
    weights = tmp_path / "virchow2.bin"
    weights.write_bytes(b"")
    config["cell_type_models"]["encoder"]["weights"] = str(weights)
    path = tmp_path / "her2st_full_local.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_full_cohort_plans_with_an_empty_data_root(tmp_path):
    """All 36 sections, the released patient folds with validation patients, every rule, nothing on disk."""
    weights = tmp_path / "virchow2.bin"
    weights.write_bytes(b"")
    config = yaml.safe_load((REPO / "config" / "her2st_full.yaml").read_text())
    config.update(samples=str(REPO / config["samples"]), data_root=str(tmp_path / "empty"))
    config["folds"]["table"] = str(REPO / config["folds"]["table"])
    config["cell_type_models"]["encoder"]["weights"] = str(weights)
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    r = run_snakemake(["-n", "--cores", "2", "--configfile", str(tmp_path / "full.yaml")], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", r.stdout, re.M))
    assert jobs["download_input"] == "109" and jobs["download_archive"] == "1" and jobs["convert_reference"] == "1"
    assert jobs["ingest"] == jobs["spot_patches"] == jobs["tissue_tiles"] == "36"
    assert training_jobs(r.stdout) == {"expression": 15, "cell_types": 20}  # 4 folds + final
    assert jobs["cell2location"] == jobs["reference_signatures"] == "1" and jobs["metrics_summary"] == "1"
    del config["cell_type_models"]["encoder"]["weights"]  # back to the config's own path, absent here
    (tmp_path / "full.yaml").write_text(
        yaml.safe_dump(
            {
                **config,
                "cell_type_models": {
                    "preset": "virchow2",
                    "finetune": "lora",
                    "encoder": {"weights": str(tmp_path / "no" / "pytorch_model.bin")},
                },
            }
        )
    )
    r = run_snakemake(["-n", "--cores", "2", "--configfile", str(tmp_path / "full.yaml")], tmp_path)
    assert r.returncode != 0 and "pytorch_model.bin: encoder weight file not found" in r.stdout


def test_stain_variant_plans_over_the_full_cohort(tmp_path):
    """config/her2st_full_stain.yaml over her2st_full: a stain fit per slide before its tiles and
    patches, the jitter in both model sections, the frozen baselines, the cross-patient section."""
    weights = tmp_path / "virchow2.bin"
    weights.write_bytes(b"")
    config = yaml.safe_load((REPO / "config" / "her2st_full.yaml").read_text())
    config.update(samples=str(REPO / config["samples"]), data_root=str(tmp_path / "empty"))
    config["folds"]["table"] = str(REPO / config["folds"]["table"])
    config["cell_type_models"]["encoder"]["weights"] = str(weights)
    stain = yaml.safe_load((REPO / "config" / "her2st_full_stain.yaml").read_text())
    stain["expression_models"]["frozen"]["weights"] = str(weights)
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (tmp_path / "stain.yaml").write_text(yaml.safe_dump(stain, sort_keys=False))
    r = run_snakemake(
        ["-n", "-p", "--cores", "2", "--configfile", str(tmp_path / "full.yaml"), str(tmp_path / "stain.yaml")],
        tmp_path,
    )
    assert r.returncode == 0, r.stdout[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", r.stdout, re.M))
    assert jobs["stain_fit"] == jobs["tissue_tiles"] == jobs["spot_patches"] == "36"
    assert training_jobs(r.stdout)["expression"] == 25 and jobs["cross_patient"] == "1"  # 5 models x (4 folds + final)
    assert "results/her2st_full_stain/stain/A1.json" in r.stdout  # the target: the sheet's first slide


def test_full_cohort_folds_have_validation_patients():
    from stpath.ingest.folds import FoldSettings, plan_folds
    from stpath.ingest.sheet import read_sheet

    config = yaml.safe_load((REPO / "config" / "her2st_full.yaml").read_text())
    folds = plan_folds(
        read_sheet(REPO / config["samples"]).reset_index(drop=True),
        FoldSettings.from_config({"table": "", **config["folds"]}),
    )
    patients = folds.groupby(["fold", "role"])["patient"].nunique().unstack()
    assert patients.to_dict("list") == {
        "test": [2] * 4,
        "train": [4] * 4,
        "val": [2] * 4,
    }  # the released CUCA split sizes
    tested = folds[folds["role"] == "test"].groupby("patient")["fold"].nunique()
    assert len(tested) == 8 and (tested == 1).all()  # every patient tested once
    assert folds.groupby("fold")["sample"].nunique().eq(36).all()


@pytest.mark.workflow
def test_full_cohort_config_downloads_verifies_and_converts_through_the_workflow(server, tmp_path):
    base, _ = server
    configfile = local_full_config(base, tmp_path)
    config = yaml.safe_load(configfile.read_text())
    data = Path(config["data_root"])
    targets = [str(data / rel) for rel in config["downloads"]] + [str(data / "reference" / "wu2021_brca.h5ad")]
    r = run_snakemake([*targets, "--cores", "2", "--configfile", str(configfile)], tmp_path, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:]
    assert r.stdout.count("rule download_archive:") == 1  # one repository archive for both images
    for s in SECTIONS:  # byte-identical to the shared copies, and so to their recorded SHA-256
        for rel in (f"images/{s}.jpg", f"counts/{s}.tsv.gz", f"spots/{s}_selection.tsv"):
            assert (data / rel).read_bytes() == (HER2ST / rel).read_bytes(), rel
            assert config["downloads"][rel]["sha256"] == sha(data / rel), rel
    reference = ad.read_h5ad(data / "reference" / "wu2021_brca.h5ad")
    assert reference.shape == (40, 30) and {"celltype_major", "celltype_minor", "celltype_subset", "Patient"} <= set(
        reference.obs
    )
    assert set(reference.obs["Patient"]) == {"CID3586", "CID4465"}
    log = (
        tmp_path / "logs" / "her2st_full" / "download" / "archives" / "GSE176078_Wu_etal_2021_BRCA_scRNASeq.tar.gz.log"
    ).read_text()
    assert "SHA-256" in log and "not checked" in log  # the atlas has no recorded checksum yet
    again = run_snakemake(["-n", "--cores", "2", "--configfile", str(configfile)], tmp_path)  # the whole run
    assert again.returncode == 0 and "rule ingest:" in again.stdout, again.stdout[-2000:]
    assert "rule download_" not in again.stdout and "rule convert_reference:" not in again.stdout  # fetched once


@pytest.mark.workflow
def test_full_cohort_config_refuses_a_file_whose_checksum_differs(server, tmp_path):
    base, _ = server
    configfile = local_full_config(base, tmp_path)
    config = yaml.safe_load(configfile.read_text())
    config["downloads"]["counts/C2.tsv.gz"]["sha256"] = "0" * 64
    configfile.write_text(yaml.safe_dump(config))
    target = Path(config["data_root"]) / "counts" / "C2.tsv.gz"
    r = run_snakemake([str(target), "--cores", "1", "--configfile", str(configfile)], tmp_path)
    assert r.returncode != 0
    log = (tmp_path / "logs" / "her2st_full" / "download" / "counts" / "C2.tsv.gz.log").read_text()
    assert "counts/C2.tsv.gz: SHA-256" in log and f"not the {'0' * 64} recorded in the config" in log
    assert not target.exists() and not list(target.parent.glob(".*partial*"))


def test_download_checks_the_sha256_and_keeps_nothing_on_a_mismatch(server, tmp_path):
    base, _ = server
    url = f"{base}/raw.githubusercontent.com/almaan/her2st/{COMMIT}/data/ST-cnts/C2.tsv.gz"
    good = sha(HER2ST / "counts" / "C2.tsv.gz")
    download(Download("counts/C2.tsv.gz", url, good), tmp_path)
    assert sha(tmp_path / "counts" / "C2.tsv.gz") == good
    with pytest.raises(
        InputError, match=r"^counts/other.tsv.gz: SHA-256 [0-9a-f]{64} of the file fetched from .* is not the f{64}"
    ):
        download(Download("counts/other.tsv.gz", url, "f" * 64), tmp_path)
    assert sorted(p.name for p in (tmp_path / "counts").iterdir()) == ["C2.tsv.gz"]


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_member_is_the_one_file_matching_the_glob(tmp_path, kind):
    payload = b"\xff\xd8 a jpeg"
    archive = tmp_path / "repo"
    names = {
        "repo-abc/data/ST-imgs/A/A1/HE_odd_name.jpg": payload,
        "repo-abc/data/ST-imgs/A/A2/x.jpg": b"other",
        "repo-abc/README.md": b"#",
    }
    if kind == "tar":
        with tarfile.open(archive, "w:gz") as tar:
            for name, data in names.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        with zipfile.ZipFile(archive, "w") as z:
            for name, data in names.items():
                z.writestr(name, data)
    entry = Download("images/A1.jpg", "http://x/repo", hashlib.sha256(payload).hexdigest(), "*/data/ST-imgs/A/A1/*.jpg")
    extract_member(entry, archive, tmp_path / "data")
    assert (tmp_path / "data" / "images" / "A1.jpg").read_bytes() == payload
    with pytest.raises(InputError, match=r"images/A.jpg: the member pattern '\*/ST-imgs/A/\*/\*.jpg' matches 2 files"):
        extract_member(Download("images/A.jpg", "http://x/repo", "", "*/ST-imgs/A/*/*.jpg"), archive, tmp_path / "data")
    with pytest.raises(InputError, match="matches 0 files"):
        extract_member(
            Download("images/B1.jpg", "http://x/repo", "", "*/ST-imgs/B/B1/*.jpg"), archive, tmp_path / "data"
        )
    with pytest.raises(InputError, match="images/A1b.jpg: SHA-256"):
        extract_member(
            Download("images/A1b.jpg", "http://x/repo", "0" * 64, "*/A/A1/*.jpg"), archive, tmp_path / "data"
        )
    assert not (tmp_path / "data" / "images" / "A1b.jpg").exists()


def test_download_entries_are_urls_or_url_sha256_member(tmp_path):
    config = {
        "data_root": str(tmp_path),
        "downloads": {
            "a.txt": "https://h/a.txt",
            "b.jpg": {"url": "https://h/repo.tar.gz", "member": "*/b/*.jpg", "sha256": "AB" * 32},
            "c.jpg": {"url": "https://h/repo.tar.gz", "member": "*/c/*.jpg"},
        },
    }
    (tmp_path / "a.txt").write_text("present")  # present: no download job claims it
    pending = pending_downloads(config)
    assert set(pending) == {"b.jpg", "c.jpg"} and pending["b.jpg"].sha256 == "ab" * 32
    assert pending["b.jpg"].archive == pending["c.jpg"].archive and list(pending_archives(pending).values()) == [
        "https://h/repo.tar.gz"
    ]
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    bad = {
        "dataset": "d",
        "samples": "s.tsv",
        "data_root": ".",
        "downloads": {"a.txt": {"url": "https://h/a", "sha256": "xyz"}},
    }
    with pytest.raises(InputError, match=r"cfg.yaml: config key 'downloads.a.txt(.sha256)?'"):
        check_schema(bad, schema, "cfg.yaml")


def test_wu2021_archive_becomes_the_reference_with_tiers_and_patient(tmp_path):
    counts, metadata = write_synthetic_wu2021(tmp_path / "gse.tar.gz")
    adata = read_wu2021(tmp_path / "gse.tar.gz", tmp_path)
    np.testing.assert_array_equal(adata.X.toarray(), counts)  # back to cells x genes, raw
    assert list(adata.obs_names) == list(metadata.index) and list(adata.var_names[:2]) == ["GENE0", "GENE1"]
    assert (adata.obs["Patient"].astype(str) == metadata["orig.ident"]).all()
    assert (adata.obs["celltype_minor"].astype(str) == metadata["celltype_minor"]).all()
    assert not list(tmp_path.glob("tmp*"))  # the unpacked matrix is gone


def test_wu2021_archive_in_another_layout_is_refused(tmp_path):
    write_synthetic_wu2021(tmp_path / "no_meta.tar.gz", drop=["metadata.csv"])
    with pytest.raises(InputError, match=r"no_meta.tar.gz: the archive lacks metadata.csv .*Fix: give the GEO file"):
        read_wu2021(tmp_path / "no_meta.tar.gz")
    (tmp_path / "plain.gz").write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(InputError, match="plain.gz: not a readable tar archive"):
        read_wu2021(tmp_path / "plain.gz")
