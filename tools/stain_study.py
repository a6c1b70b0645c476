"""The effect of each stain option on cross-patient expression prediction: one run of a config per
option (none, HED jitter, brightness/contrast/saturation jitter, Macenko, Reinhard), the expression
models only, then a table of mean PCC per model and option. On the demo (the default) the folds
are patient-level (train on one patient, test on the other), and each patient's slides carry their
own stain, so the table measures what each option does for a patient the models never saw.

    python -m tools.stain_study --workdir runs/stain_study [--config config/config.yaml] [--cores 2]

Writes ``stain_study.tsv`` (per model, option, gene set and protocol: mean PCC over test slides)
in the workdir and prints it. Each option's run is a dataset of its own (``{dataset}_{option}``)
with a config file in the workdir; the runs share the input data."""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
MODELS = ["cmrcnet", "bleep", "direct", "hest_probe", "frozen_retrieval"]
OPTIONS: dict[str, dict] = {
    "none": {},
    "hed_jitter": {"train_jitter": {"hed": 0.05}},  # Tellez et al.'s HED-light
    "colour_jitter": {"train_jitter": {"brightness": 0.15, "contrast": 0.15, "saturation": 0.15}},
    "macenko": {"stain_normalisation": {"method": "macenko"}},
    "reinhard": {"stain_normalisation": {"method": "reinhard"}},
}


def option_config(base: dict, option: str, workdir: Path) -> dict:
    """``base`` (a config) with the expression models only, no whole-slide maps or final models,
    and the option's stain setting."""
    config = copy.deepcopy(base)
    config["dataset"] = f"{base['dataset']}_{option}"
    for key in ("samples", "data_root"):
        config[key] = str((REPO / config[key]).resolve()) if not Path(config[key]).is_absolute() else config[key]
    expr = config.setdefault("expression_models", {})
    expr.update(models=MODELS, whole_slide=[])
    config.setdefault("cell_type_models", {})["models"] = []
    config.setdefault("training", {})["final_models"] = False
    setting = OPTIONS[option]
    if "train_jitter" in setting:
        expr.setdefault("train", {})["stain_jitter"] = setting["train_jitter"]
    if "stain_normalisation" in setting:
        config["stain_normalisation"] = setting["stain_normalisation"]
    return config


def summarise(workdir: Path, datasets: dict[str, str]) -> pd.DataFrame:
    """Mean PCC over the held-out slides per model, option, gene set and protocol."""
    rows = []
    for option, dataset in datasets.items():
        summary = pd.read_csv(workdir / "results" / dataset / "metrics" / "expression_summary.tsv", sep="\t")
        pcc = summary[summary.metric == "pearson_mean"]
        means = pcc.groupby(["model", "gene_set", "protocol", "patients"], as_index=False)["value"].mean()
        rows.append(means.assign(option=option))
    table = pd.concat(rows, ignore_index=True)
    return table.pivot_table(index=["gene_set", "protocol", "patients", "model"], columns="option", values="value")[
        [o for o in OPTIONS if o in datasets]
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS))
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(args.config.read_text())
    datasets = {}
    for option in args.options:
        config = option_config(base, option, workdir)
        path = workdir / f"{config['dataset']}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        target = f"results/{config['dataset']}/metrics/expression_summary.tsv"
        command = [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--workflow-profile",
            str(REPO / "workflow" / "profiles" / "demo"),
            "--cores",
            str(args.cores),
            "--configfile",
            str(path),
            "--rerun-incomplete",
            target,
        ]
        print(f"== {option}: {' '.join(command)}", flush=True)
        if subprocess.run(command, cwd=workdir).returncode:
            return 1
        datasets[option] = config["dataset"]
    table = summarise(workdir, datasets)
    table.to_csv(workdir / "stain_study.tsv", sep="\t", float_format="%.4f")
    print(table.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
