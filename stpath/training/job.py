"""One job of a model's lifecycle (train one split, predict the held-out spots, map the whole
slides, bundle the final model), as the workflow hands it to a method branch: the model's name,
its branch's settings (the config section) and the job's files and values. Each branch's ``jobs``
module runs the four stages from it; ``stpath.lifecycle`` dispatches on the model's task."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ModelJob:
    model: str  # registry name
    settings: dict  # the branch's config section (expression_models or cell_type_models)
    input: dict  # input name -> path or list of paths
    output: dict  # output name -> path or list of paths
    params: dict = field(default_factory=dict)
    threads: int = 1
    config: dict = field(default_factory=dict)  # the run's whole config (dataset, training)

    @classmethod
    def of(cls, smk) -> "ModelJob":
        """From a Snakemake script's ``snakemake`` object (read by duck typing: no Snakemake import)."""
        params = dict(smk.params.items())
        model, settings = for_replicate(smk.wildcards.model, params.pop("settings"))
        # the section files read through an index (stpath.manifest) are inputs like the others
        files = dict(params.pop("files", None) or {})
        return cls(
            model=model,
            settings=settings,
            input={**{k: v for k, v in smk.input.items()}, **files},
            output={k: v for k, v in smk.output.items()},
            params=params,
            threads=smk.threads,
            config=smk.config,
        )

    def fit_and_save(self, fit, settings, data, device) -> None:
        """Train a split with the branch's ``fit`` (resumable in the job's work folder) and write
        the finished run's checkpoint and history."""
        from .checkpoint import save_finished_run

        workdir = Path(self.params["workdir"])
        history = fit(
            self.model,
            settings,
            data,
            device,
            workdir,
            self.config["training"]["checkpoint_minutes"],
            tuple(self.params["val_samples"]),
        )
        save_finished_run(history, workdir, self.output["history"], self.output["checkpoint"])

    def held_out(self) -> tuple:
        """What a held-out prediction reads: the fold table, each fold's checkpoint, and each
        labelled slide's patches and expression (dicts by fold and by sample)."""
        import pandas as pd

        samples = self.params["samples"]
        return (
            pd.DataFrame(self.params["folds"]),
            dict(zip(self.params["fold_ids"], self.input["checkpoints"])),
            dict(zip(samples, self.input["patches"])),
            dict(zip(samples, self.input["expression"])),
        )

    def bundle_fields(self) -> dict:
        """What a bundle records of its run (``make_bundle``'s keywords): the dataset, the training
        slides, the scale the model learnt from, the stain it was normalised to, and its folder."""
        from ..wsi.scale import ImageScale
        from ..wsi.stain import read_stain_fit

        stain = self.input.get("stain_target")
        return {
            "dataset": self.config["dataset"],
            "training_samples": self.params["samples"],
            "scale": ImageScale.from_config(self.params["scale"]),
            "stain": read_stain_fit(stain).record() if stain else {},
            "folder": self.output["bundle"],
        }

    def write_index(self) -> None:
        """The index of a job that writes one file per slide (its ``index`` output, written last:
        the per-slide jobs depend on it, stpath.manifest)."""
        from ..manifest import write_index

        if "index" in self.output:
            files = next(v for k, v in self.output.items() if k != "index" and isinstance(v, list))
            written = self.params["held_out"] if "predictions" in self.output else self.params["samples"]
            write_index(self.output["index"], dict(zip(written, files)))

    def prediction_paths(self) -> dict[str, str]:
        """Each held-out slide's prediction file."""
        return dict(zip(self.params["held_out"], self.output["predictions"]))


def for_replicate(name: str, settings: dict) -> tuple[str, dict]:
    """The model and branch settings of a ``{model}`` wildcard: a seed replicate
    (``cuca/seed3408``) is its model with ``train.seed`` set to its seed."""
    from ..models.registry import split_replicate

    model, seed = split_replicate(name)
    if seed is None:
        return model, settings
    return model, {**settings, "train": {**settings["train"], "seed": seed}}


def map_whole_slides(job: ModelJob, load_predictor, predict, panels, what: str, from_zero: bool = True) -> None:
    """The whole-slide stage of either branch: every slide tile by tile, the held-out ones by the
    model of their fold, the image-only ones by the final model; each model is loaded once
    (``load_predictor(split, training_samples)``), then ``predict(predictor, tiles_path, sample,
    split, details)`` gives each slide's ``TilePrediction``, written with a map of the ``panels``
    (a function of the prediction's table) over the H&E, titled ``what`` and the protocol."""
    import pandas as pd

    from ..ingest.folds import checkpoints_by_split, predicting_runs, protocol_of, training_samples
    from ..plots import save_tile_map
    from ..predictions import tile_provenance, write_tile_prediction

    folds = pd.DataFrame(job.params["folds"])
    checkpoints = checkpoints_by_split(job.params["fold_ids"], job.input["checkpoints"], job.input["final"])
    index = {s: i for i, s in enumerate(job.params["samples"])}
    for split, samples in predicting_runs(folds, job.params["fold_ids"], job.params["image_only"]):
        train = training_samples(folds, split, job.params["labelled"])
        predictor = load_predictor(checkpoints[split], train)  # once per run
        details = tile_provenance(split, train, job.params["bundle"])
        for sample in samples:
            i = index[sample]
            tiles = predict(predictor, job.input["tiles"][i], sample, split, details)
            write_tile_prediction(tiles, job.output["adata"][i])
            title = f"{sample}: {job.model} {what} on {len(tiles.predicted)} tissue tiles\n{protocol_of(split, sample, folds)}"
            columns = panels(tiles.predicted)
            save_tile_map(job.output["png"][i], title, tiles, job.input["tiles"][i], columns, from_zero)
