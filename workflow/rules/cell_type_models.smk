if STAGES.cell_type_models:

    rule train_cell_type_model:
        input:
            unpack(split_training_inputs),
            labels=split_label_inputs,
            genes=f"{OUT}/expression/genes.tsv",
        output:
            checkpoint=f"{OUT}/models/{{cell_model}}/{{split}}/best.pt",
            history=f"{OUT}/models/{{cell_model}}/{{split}}/history.tsv",
        log:
            f"logs/{DATASET}/train_cell_type_model/{{cell_model}}_{{split}}.log",
        benchmark:
            f"benchmarks/{DATASET}/train_cell_type_model/{{cell_model}}_{{split}}.tsv"
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
                wc.split, "cell_type_models"
            ),
            workdir=lambda wc: f"{OUT}/models/{wc.cell_model}/{wc.split}/work",
            models=CELL,
        script:
            "../scripts/train_cell_type_model.py"

    # One job per model for the held-out spots, and one for the whole slides: each fold's model is
    # loaded once for all the slides the fold holds out; the outputs stay one file per slide.
    rule predict_cell_types:
        input:
            unpack(held_out_inputs),
            checkpoints=fold_checkpoints,
            genes=f"{OUT}/expression/genes.tsv",
            labels=label_files(STAGES.labelled_slides),
        output:
            expand(
                f"{OUT}/predictions/{{{{cell_model}}}}/{{sample}}.h5ad",
                sample=STAGES.labelled_slides,
            ),
        log:
            f"logs/{DATASET}/predict_cell_types/{{cell_model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/predict_cell_types/{{cell_model}}.tsv"
        priority: 1
        conda:
            "../../envs/models.yaml"
        threads: 2
        resources:
            mem_mb=8000,
            gpu=1,
        params:
            samples=STAGES.labelled_slides,
            folds=FOLD_TABLE.to_dict("list") if FOLD_TABLE is not None else {},
            fold_ids=FOLDS,
            models=CELL,
        script:
            "../scripts/predict_cell_types.py"

    # Every slide mapped tile by tile: the held-out ones by their fold's model, the image-only ones
    # by the final model; each model is loaded once.
    rule slide_cell_types:
        input:
            checkpoints=fold_checkpoints,
            final=final_checkpoint,
            genes=f"{OUT}/expression/genes.tsv",
            tiles=whole_slide_tiles,
            labels=label_files(STAGES.labelled_slides),
        output:
            adata=expand(
                f"{OUT}/wholeslide/{{{{cell_model}}}}/{{sample}}.h5ad",
                sample=STAGES.whole_slide_samples,
            ),
            png=[
                report(
                    f"{OUT}/wholeslide/{{cell_model}}/{sample}.png",
                    caption="../report/wholeslide_maps.rst",
                    category="5. Whole slides",
                    subcategory="cell types",
                    labels={"model": "{cell_model}", "sample": sample},
                )
                for sample in STAGES.whole_slide_samples
            ],
        log:
            f"logs/{DATASET}/slide_cell_types/{{cell_model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/slide_cell_types/{{cell_model}}.tsv"
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
            bundle=lambda wc: (
                f"{OUT}/bundles/{wc.cell_model}" if STAGES.final_models else ""
            ),
            scale=model_scale,
            models=CELL,
        script:
            "../scripts/slide_cell_types.py"

    rule bundle_cell_type_model:
        input:
            unpack(bundle_stain_input),
            checkpoint=f"{OUT}/models/{{cell_model}}/final/best.pt",
            genes=f"{OUT}/expression/genes.tsv",
            labels=label_files(STAGES.labelled_slides[:1])[0],
        output:
            directory(f"{OUT}/bundles/{{cell_model}}"),
        log:
            f"logs/{DATASET}/bundle_cell_type_model/{{cell_model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/bundle_cell_type_model/{{cell_model}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            samples=STAGES.labelled_slides,
            scale=model_scale,
            models=CELL,
        script:
            "../scripts/bundle_cell_type_model.py"

    rule cell_type_metrics:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{cell_model}}/{{sample}}.h5ad",
                cell_model=STAGES.cell_type_models,
                sample=STAGES.labelled_slides,
            ),
            truth=lambda wc: truth_files(wc, STAGES.labelled_slides),
            labels=label_files(STAGES.labelled_slides),
        output:
            summary=f"{OUT}/metrics/cell_types/summary.tsv",
            per_type=f"{OUT}/metrics/cell_types/per_type.tsv",
            colocalisation=f"{OUT}/metrics/cell_types/colocalisation.tsv",
        log:
            f"logs/{DATASET}/cell_type_metrics.log",
        benchmark:
            f"benchmarks/{DATASET}/cell_type_metrics.tsv"
        conda:
            "../../envs/spatial_stats.yaml"
        threads: 1
        resources:
            mem_mb=8000,
        params:
            samples=STAGES.labelled_slides,
            colocalisation=CELL["colocalisation"],
            truth_samples=STAGES.labelled_slides if DECON["truth"] else [],
            folds=FOLD_TABLE.to_dict("list"),
        script:
            "../scripts/cell_type_metrics.py"

    rule cell_type_figures:
        input:
            summary=f"{OUT}/metrics/cell_types/summary.tsv",
            per_type=f"{OUT}/metrics/cell_types/per_type.tsv",
            colocalisation=f"{OUT}/metrics/cell_types/colocalisation.tsv",
        output:
            pearson=report(
                f"{OUT}/metrics/cell_types/pearson.png",
                caption="../report/cell_type_pearson.rst",
                category="4. Cell-type models",
            ),
            colocalisation=report(
                f"{OUT}/metrics/cell_types/colocalisation.png",
                caption="../report/colocalisation.rst",
                category="4. Cell-type models",
            ),
        log:
            f"logs/{DATASET}/cell_type_figures.log",
        benchmark:
            f"benchmarks/{DATASET}/cell_type_figures.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            models=CELL,
        script:
            "../scripts/cell_type_figures.py"

    rule cell_type_maps:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{cell_model}}/{{{{sample}}}}.h5ad",
                cell_model=STAGES.cell_type_models,
            ),
            labels=lambda wc: label_files([wc.sample])[0],
            tiles=f"{OUT}/tiles/{{sample}}.h5",
            truth=lambda wc: truth_files(wc, [wc.sample]),
        output:
            report(
                f"{OUT}/metrics/cell_types/maps/{{sample}}.png",
                caption="../report/cell_type_maps.rst",
                category="4. Cell-type models",
                labels={"sample": "{sample}"},
            ),
        log:
            f"logs/{DATASET}/cell_type_maps/{{sample}}.log",
        benchmark:
            f"benchmarks/{DATASET}/cell_type_maps/{{sample}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            map_types=CELL["map_types"],
            folds=FOLD_TABLE.to_dict("list"),
        script:
            "../scripts/cell_type_maps.py"
