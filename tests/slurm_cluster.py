"""A real one-node SLURM for the cluster tests: Debian's slurmctld, slurmd and munged, configured
for this machine and started by hand (no systemd), stopped by PID afterwards.

Accounting is off, so ``sacct`` answers nothing: the profile polls with ``squeue`` and jobs stay
visible to it for MinJobAge = 300 s. The node offers one stand-in GPU (a gpu GRES whose device
file is /dev/null: Slurm registers a gpu GRES only with a device file), so rules that request a
GPU are scheduled as on a GPU cluster and run on the CPU.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "munge", "slurm-client"]


def install() -> None:
    """Debian's SLURM and munge, when missing (about 20 s; needs root and the Debian mirror)."""
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", *PACKAGES]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(cmd, env=env, check=True, capture_output=True)


def slurm_conf(root: Path, host: str, cpus: int, memory_mb: int) -> str:
    return f"""ClusterName=stpath-ci
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class OneNodeSlurm:
    """``with OneNodeSlurm(root) as cluster:`` a running cluster; every daemon it started is
    stopped by PID on exit, also when the body raises."""

    def __init__(self, root: Path, cpus: int | None = None, memory_mb: int = 20000):
        self.root = Path(root)
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self.host = socket.gethostname().split(".")[0]
        self.pids: list[int] = []
        # the configuration goes where every SLURM command finds it without SLURM_CONF: the
        # jobstep plugin strips SLURM_* variables before its nested srun
        self.conf_dir = Path("/etc/slurm")
        self.env = dict(os.environ, SLURM_CONF=str(self.conf_dir / "slurm.conf"))

    def __enter__(self) -> "OneNodeSlurm":
        install()
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        conf = self.conf_dir / "slurm.conf"
        if conf.exists() and not _left_by_a_killed_run(conf):
            raise RuntimeError(
                f"{conf} exists: this machine has a SLURM configuration, which the test does not overwrite"
            )
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.written = [conf, self.conf_dir / "gres.conf"]
        conf.write_text(slurm_conf(self.root, self.host, self.cpus, self.memory_mb))
        # a stand-in device file: Slurm registers a gpu GRES only with one
        self.written[1].write_text(f"NodeName={self.host} Name=gpu Count=1 File=/dev/null\n")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> None:
        # munged runs as the munge user, which cannot enter pytest's private (0700) temp folders
        munge = self.munge_dir = Path(tempfile.mkdtemp(prefix="stpath-munge-"))
        munge.chmod(0o755)
        os.chown(munge, *_ids("munge"))
        socket_path = munge / "munge.socket"
        self._spawn(
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={socket_path}",
                f"--pid-file={munge}/munged.pid",
                f"--log-file={munge}/munged.log",
                f"--seed-file={munge}/munged.seed",
            ],
            user="munge",
        )
        with (self.conf_dir / "slurm.conf").open("a") as f:
            f.write(f"AuthInfo=socket={socket_path}\n")
        _wait(lambda: socket_path.exists(), 10, "munged did not create its socket")
        self._spawn(["slurmctld", "-D", "-i"])
        self._spawn(["slurmd", "-D"])
        _wait(self._node_idle, 30, f"the node did not come up; see {self.root}/slurmd.log and slurmctld.log")

    def _spawn(self, cmd: list[str], user: str | None = None) -> None:
        log = open(self.root / f"{Path(cmd[0]).name}.out", "w")
        kwargs = {"user": user} if user else {}
        proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        self.pids.append(proc.pid)

    def _node_idle(self) -> bool:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() in ("idle", "mixed", "allocated")

    def stop(self) -> None:
        for pid in reversed(self.pids):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.time() + 15
        for pid in self.pids:
            while time.time() < deadline and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        self.pids.clear()
        if getattr(self, "munge_dir", None):
            shutil.rmtree(self.munge_dir, ignore_errors=True)
        for path in getattr(self, "written", []):
            path.unlink(missing_ok=True)


def _left_by_a_killed_run(conf: Path) -> bool:
    """True for a configuration this module wrote whose controller is gone (a run killed before its
    ``stop``): it is removed with its gres.conf. A foreign one, or one whose controller still runs,
    is left alone."""
    lines = conf.read_text().splitlines()
    if not lines or lines[0] != "ClusterName=stpath-ci":
        return False
    pid_file = next((Path(x.split("=", 1)[1]) for x in lines if x.startswith("SlurmctldPidFile=")), None)
    if pid_file is not None and pid_file.exists():
        text = pid_file.read_text().strip()
        if text.isdigit() and _alive(int(text)):
            return False
    conf.unlink()
    (conf.parent / "gres.conf").unlink(missing_ok=True)
    return True


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def _wait(check, seconds: float, message: str) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(message)
