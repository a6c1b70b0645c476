# Each model's lifecycle, one rule per stage over {model} for both branches (the registry knows
# each model's branch: stpath.lifecycle runs the job in it). The branch's metrics and figures are
# in expression_models.smk and cell_type_models.smk.
if STAGES.image_models:

    rule train_model:
        input:
            unpack(branch_inputs("train")),
            genes=f"{OUT}/genes/genes.tsv",
        output:
            checkpoint=f"{OUT}/models/{{model}}/{{split}}/best.pt",
            history=f"{OUT}/models/{{model}}/{{split}}/history.tsv",
        log:
            f"logs/{DATASET}/train_model/{{model}}_{{split}}.log",
        benchmark:
            f"benchmarks/{DATASET}/train_model/{{model}}_{{split}}.tsv"
        priority: 2
        conda:
            "../../envs/models.yaml"
        threads: 4
        resources:
            mem_mb=16000,
            gpu=1,
        params:
            samples=lambda wc: split_samples(wc.split),
            val_samples=lambda wc: split_validation_samples(
                wc.split, registry.section(wc.model)
            ),
            workdir=lambda wc: f"{OUT}/models/{wc.model}/{wc.split}/work",
            settings=model_settings,
            files=branch_files("train"),
        script:
            "../scripts/train_model.py"

    # One job per model: each fold's model is loaded (and its retrieval keys embedded) once for
    # all the slides the fold holds out; the predictions stay one file per slide.
    rule predict_model:
        input:
            unpack(branch_inputs("predict")),
            checkpoints=fold_checkpoints,
            genes=f"{OUT}/genes/genes.tsv",
        output:
            # first: what the per-slide jobs depend on (stpath.manifest)
            index=f"{OUT}/predictions/{{model}}/index.tsv",
            predictions=expand(
                f"{OUT}/predictions/{{{{model}}}}/{{sample}}.h5ad",
                sample=STAGES.tested,
            ),
        log:
            f"logs/{DATASET}/predict_model/{{model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/predict_model/{{model}}.tsv"
        priority: 1
        conda:
            "../../envs/models.yaml"
        threads: 2
        resources:
            mem_mb=8000,
            gpu=1,
        params:
            samples=STAGES.labelled_slides,  # patches read (retrieval keys of the training slides)
            held_out=STAGES.tested,  # slides predicted (a split table may never test some)
            folds=FOLD_TABLE.to_dict("list") if FOLD_TABLE is not None else {},
            fold_ids=FOLDS,
            settings=model_settings,
            files=branch_files("predict"),
        script:
            "../scripts/predict_model.py"

    # Every slide mapped tile by tile: the held-out ones by their fold's model, the image-only ones
    # by the final model; each model is loaded once.
    rule slide_model:
        input:
            unpack(branch_inputs("map_slides")),
            checkpoints=fold_checkpoints,
            final=final_checkpoint,
            genes=f"{OUT}/genes/genes.tsv",
            tiles=whole_slide_tiles,
        output:
            index=f"{OUT}/wholeslide/{{model}}/index.tsv",
            adata=expand(
                f"{OUT}/wholeslide/{{{{model}}}}/{{sample}}.h5ad",
                sample=STAGES.whole_slide_samples,
            ),
            png=[
                report(
                    f"{OUT}/wholeslide/{{model}}/{sample}.png",
                    caption="../report/wholeslide.rst",
                    category="5. Whole slides",
                    subcategory="{model}",
                    labels={"model": "{model}", "sample": sample},
                )
                for sample in STAGES.whole_slide_samples
            ],
        log:
            f"logs/{DATASET}/slide_model/{{model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/slide_model/{{model}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 2
        resources:
            mem_mb=8000,
            gpu=1,
        params:
            samples=STAGES.whole_slide_samples,
            labelled=STAGES.labelled_slides,
            folds=FOLD_TABLE.to_dict("list") if FOLD_TABLE is not None else {},
            fold_ids=FOLDS,
            image_only=STAGES.image_only,
            # the bundle that holds the final model (the image-only slides' predictor)
            bundle=lambda wc: f"{OUT}/bundles/{wc.model}" if STAGES.final_models else "",
            scale=model_scale,
            settings=model_settings,
            files=lambda wc: {
                **branch_io("map_slides", wc)[1],
                "tiles": list(
                    targets.indexed(
                        OUT, SCALES, STAGES, f"tiles_{registry.section(wc.model)}"
                    ).values()
                ),
            },
        script:
            "../scripts/slide_model.py"

    rule bundle_model:
        input:
            unpack(branch_inputs("bundle")),
            unpack(bundle_stain_input),
            checkpoint=f"{OUT}/models/{{model}}/final/best.pt",
            genes=f"{OUT}/genes/genes.tsv",
        output:
            bundle=directory(f"{OUT}/bundles/{{model}}"),
        log:
            f"logs/{DATASET}/bundle_model/{{model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/bundle_model/{{model}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 2
        resources:
            mem_mb=8000,
        params:
            samples=STAGES.labelled_slides,
            scale=model_scale,
            settings=model_settings,
            files=branch_files("bundle"),
        script:
            "../scripts/bundle_model.py"
