"""The cluster path for real: the workflow through snakemake-executor-plugin-slurm and the SLURM
workflow profile, on a one-node SLURM started for this test (tests/slurm_cluster.py)."""

import os
import re
import subprocess

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, config_args, run_snakemake
from slurm_cluster import OneNodeSlurm

pytestmark = pytest.mark.workflow

# The demo's chain through one GPU-declaring training and its held-out prediction, not the whole
# DAG: every job is a SLURM job with its own Python start-up, which a 2-core CI pays serially.
TARGETS = [
    "results/demo/deconvolution/accuracy.tsv",
    "results/demo/predictions/cuca/P2_S1.h5ad",
    "results/demo/wholeslide/cuca/P2_S1.h5ad",
]


GPU_RULES = [
    "cell2location",
    "reference_signatures",
    "train_model",
    "predict_model",
    "slide_model",
    "apply_bundle",
]


def demo_threads() -> list[str]:
    """The demo profile's threads per rule (the local run's), so that both runs do the same
    floating-point sums."""
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "demo" / "config.yaml").read_text())
    return [f"{rule}={n}" for rule, n in profile["set-threads"].items()]


def slurm_args(partition: str = "main", mem_mb: int = 4000, max_threads: int | None = 2) -> list[str]:
    """The user's SLURM profile with this node's partition for every rule, no account, squeue
    polling (no accounting here) and threads capped at the node's 2 CPUs (a larger request would
    pend forever). Conda cannot reach its channels here: the plain virtualenv runs every job."""
    return [
        "--workflow-profile",
        str(REPO / "workflow" / "profiles" / "slurm"),
        "--default-resources",
        f"slurm_partition={partition}",
        f"mem_mb={mem_mb}",
        "runtime=30",
        "--set-resources",
        *[f"{rule}:slurm_partition={partition}" for rule in GPU_RULES],
        *(["--max-threads", str(max_threads)] if max_threads else []),
        "--jobs",
        "2",
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
    ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0 and not os.path.exists("/usr/sbin/slurmctld"):
        pytest.skip("needs root to install Debian's slurm (apt-get install slurmctld slurmd munge slurm-client)")
    with OneNodeSlurm(tmp_path_factory.mktemp("slurm"), cpus=2, memory_mb=20000) as c:
        yield c


def run_on_cluster(cluster, args, workdir, timeout=1500, **profile):
    return run_snakemake(
        [*slurm_args(**profile), *args], workdir, timeout=timeout, env={"SLURM_CONF": cluster.env["SLURM_CONF"]}
    )


def test_demo_jobs_run_as_slurm_jobs_and_match_the_local_run(cluster, demo_run, tmp_path):
    local, local_result = demo_run
    assert local_result.returncode == 0, local_result.stdout[-3000:]
    r = run_on_cluster(
        cluster, [*TARGETS, "--set-threads", *demo_threads(), *config_args("config.yaml")], tmp_path
    )  # --config takes what follows
    assert r.returncode == 0, r.stdout[-5000:]
    job_ids = set(re.findall(r"has been submitted with SLURM jobid (\d+)", r.stdout))
    assert len(job_ids) >= 10, r.stdout[-3000:]
    logs = list((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))  # one per SLURM job, kept
    assert {p.stem for p in logs} == job_ids
    assert any("rule_train_model" in p.parts for p in logs)  # a GPU-requesting rule
    listed = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T"], env=cluster.env, capture_output=True, text=True
    ).stdout.split("\n")
    states = dict(line.split() for line in listed if line.strip())  # jobs still within MinJobAge
    assert states and all(states[j] == "COMPLETED" for j in job_ids & set(states)), states
    out, ref = tmp_path / "results" / "demo", local / "results" / "demo"
    for rel in ("ingest/P1_S1.h5ad", "genes/P2_S1.h5ad", "genes/genes.tsv"):  # byte-identical
        assert (out / rel).read_bytes() == (ref / rel).read_bytes(), rel
    for rel in ("patches/P1_S1.h5", "tiles/P2_S1.h5"):
        with h5py.File(out / rel) as a, h5py.File(ref / rel) as b:
            assert np.array_equal(a["img"][:], b["img"][:]) and np.array_equal(a["coords"][:], b["coords"][:]), rel
    # cell2location under SLURM agrees with the local run to ~1e-6 relative (float noise of the
    # stochastic optimisation; measured max 1.1e-5 cells on abundances up to 11), not to the bit
    for sample in ("P1_S1", "P2_S1"):
        a, b = (ad.read_h5ad(d / "deconvolution" / f"{sample}.h5ad").obsm["abundance_q05"] for d in (out, ref))
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-4, atol=1e-4)
    acc = [pd.read_csv(d / "deconvolution" / "accuracy.tsv", sep="\t") for d in (out, ref)]
    np.testing.assert_allclose(acc[0].pearson_r, acc[1].pearson_r, atol=1e-4)
    # CUCA trained on those labels: same spots and tiles, predictions that follow the local ones
    # (the noise can move the selected epoch; measured per-type r 0.75-0.97)
    for rel in ("predictions/cuca/P2_S1.h5ad", "wholeslide/cuca/P2_S1.h5ad"):
        a, b = ad.read_h5ad(out / rel), ad.read_h5ad(ref / rel)
        assert list(a.obs_names) == list(b.obs_names) and list(a.var_names) == list(b.var_names), rel
        r = [np.corrcoef(a.X[:, k], b.X[:, k])[0, 1] for k in range(a.n_vars)]
        assert min(r) > 0.5, (rel, r)


def test_unknown_partition_stops_before_submitting(cluster, tmp_path):
    r = run_on_cluster(
        cluster,
        ["results/demo/ingest/P1_S1.h5ad", *config_args("config.yaml")],
        tmp_path,
        timeout=300,
        partition="no_such_partition",
    )
    assert r.returncode != 0
    assert "partition 'no_such_partition' does not exist" in r.stdout and "Fix:" in r.stdout, r.stdout[-3000:]
    assert "has been submitted with SLURM jobid" not in r.stdout


def test_memory_beyond_every_node_stops_before_submitting(cluster, tmp_path):
    args = ["results/demo/ingest/P1_S1.h5ad", "--set-resources", "ingest:mem_mb=900000", *config_args("config.yaml")]
    r = run_on_cluster(cluster, args, tmp_path, timeout=300)
    assert r.returncode != 0
    assert "asks for 900000 MB of memory, but the largest node of partition 'main' has 20000" in r.stdout, r.stdout[
        -3000:
    ]
    assert "has been submitted with SLURM jobid" not in r.stdout


def test_more_cpus_than_any_node_stops_before_submitting(cluster, tmp_path):
    """SLURM itself would accept such a job and leave it pending forever."""
    args = ["results/demo/ingest/P1_S1.h5ad", "--set-threads", "ingest=8", *config_args("config.yaml")]
    r = run_on_cluster(cluster, args, tmp_path, timeout=300, max_threads=None)
    assert r.returncode != 0
    assert "rule ingest asks for 8 CPUs, but the largest node of partition 'main' has 2" in r.stdout, r.stdout[-3000:]
    assert "has been submitted with SLURM jobid" not in r.stdout


def test_a_configuration_left_by_a_killed_run_is_replaced_and_a_foreign_one_kept(tmp_path):
    """A suite killed mid-test leaves its /etc/slurm/slurm.conf behind (the cluster is stopped in
    ``stop``); the next run replaces it when its controller is gone, and never touches a
    configuration this module did not write or one whose controller still runs."""
    from slurm_cluster import _left_by_a_killed_run, slurm_conf

    conf, gres = tmp_path / "slurm.conf", tmp_path / "gres.conf"
    conf.write_text(slurm_conf(tmp_path, "vm", 2, 1000))
    gres.write_text("NodeName=vm Name=gpu Count=1 File=/dev/null\n")
    assert _left_by_a_killed_run(conf) and not conf.exists() and not gres.exists()  # no pid file

    conf.write_text(slurm_conf(tmp_path, "vm", 2, 1000))
    (tmp_path / "slurmctld.pid").write_text(f"{os.getpid()}\n")  # a live controller
    assert not _left_by_a_killed_run(conf) and conf.exists()

    conf.write_text("ClusterName=site\nSlurmctldHost=head\n")
    assert not _left_by_a_killed_run(conf) and conf.exists()
