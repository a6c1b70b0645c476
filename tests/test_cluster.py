"""The SLURM pre-flight check, against a stand-in sinfo (the live cluster is in test_slurm.py)."""

import pytest

from tools.cluster import NodeLimits, Request, _gpus, impossible, partition_limits


def test_gpu_count_from_sinfo_gres():
    assert _gpus("(null)") == 0
    assert _gpus("gpu:1") == 1
    assert _gpus("gpu:a100:4(S:0-1),shard:8") == 4


def test_requests_beyond_every_node_are_reported_with_the_fix():
    limits = {"main": NodeLimits(2, 20000, 1), "cpu": NodeLimits(64, 256000, 0)}.get
    ok = Request("ingest", "main", 2, 4000, 0)
    too_many_cpus = Request("train", "main", 8, 4000, 1)
    no_gpu_here = Request("predict", "cpu", 2, 4000, 1)
    unknown = Request("x", "nope", 1, 1, 0)
    problems = impossible([ok, too_many_cpus, no_gpu_here, unknown], limits)
    assert len(problems) == 3
    assert "rule train asks for 8 CPUs, but the largest node of partition 'main' has 2" in problems[0]
    assert "pend forever" in problems[0] and "threads" in problems[0]
    assert "rule predict asks for 1 GPUs" in problems[1] and "GPU partition" in problems[1]
    assert "partition 'nope' does not exist" in problems[2]


def test_partition_limits_reads_the_largest_node(tmp_path):
    sinfo = tmp_path / "sinfo"
    sinfo.write_text("#!/bin/sh\nprintf 'main*|2|20000|gpu:1\\nmain*|4|8000|(null)\\ngpu|32|512000|gpu:h100:8\\n'\n")
    sinfo.chmod(0o755)
    assert partition_limits("", str(sinfo)) == NodeLimits(4, 20000, 1)  # the default partition (*)
    empty = tmp_path / "empty"
    empty.write_text("#!/bin/sh\n")
    empty.chmod(0o755)
    assert partition_limits("nope", str(empty)) is None


@pytest.mark.parametrize("threads", [1, 2])
def test_requests_within_the_node_pass(threads):
    assert impossible([Request("r", "", threads, 100, 0)], lambda p: NodeLimits(2, 1000, 0)) == []
