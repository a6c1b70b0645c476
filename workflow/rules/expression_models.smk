if STAGES.expression_models:

    rule train_expression_model:
        input:
            unpack(split_training_inputs),
            genes=f"{OUT}/expression/genes.tsv",
        output:
            checkpoint=f"{OUT}/models/{{model}}/{{split}}/best.pt",
            history=f"{OUT}/models/{{model}}/{{split}}/history.tsv",
        log:
            f"logs/{DATASET}/train_expression_model/{{model}}_{{split}}.log",
        benchmark:
            f"benchmarks/{DATASET}/train_expression_model/{{model}}_{{split}}.tsv"
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
                wc.split, "expression_models"
            ),
            workdir=lambda wc: f"{OUT}/models/{wc.model}/{wc.split}/work",
            models=EXPR,
        script:
            "../scripts/train_expression_model.py"

    # One job per model: each fold's model is loaded and its retrieval keys embedded once for all
    # the slides the fold holds out; the predictions stay one file per slide.
    rule predict_expression:
        input:
            unpack(held_out_inputs),
            checkpoints=fold_checkpoints,
            genes=f"{OUT}/expression/genes.tsv",
        output:
            expand(
                f"{OUT}/predictions/{{{{model}}}}/{{sample}}.h5ad",
                sample=STAGES.labelled_slides,
            ),
        log:
            f"logs/{DATASET}/predict_expression/{{model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/predict_expression/{{model}}.tsv"
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
            models=EXPR,
        script:
            "../scripts/predict_expression.py"

    # Every slide mapped tile by tile: the held-out ones by their fold's model, the image-only ones
    # by the final model; each model is loaded, and its keys embedded, once.
    rule slide_expression:
        input:
            unpack(held_out_inputs),
            checkpoints=fold_checkpoints,
            final=final_checkpoint,
            genes=f"{OUT}/expression/genes.tsv",
            tiles=whole_slide_tiles,
        output:
            adata=expand(
                f"{OUT}/wholeslide/{{{{model}}}}/{{sample}}.h5ad",
                sample=STAGES.whole_slide_samples,
            ),
            png=[
                report(
                    f"{OUT}/wholeslide/{{model}}/{sample}.png",
                    caption="../report/wholeslide_expression.rst",
                    category="5. Whole slides",
                    subcategory="expression",
                    labels={"model": "{model}", "sample": sample},
                )
                for sample in STAGES.whole_slide_samples
            ],
        log:
            f"logs/{DATASET}/slide_expression/{{model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/slide_expression/{{model}}.tsv"
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
            models=EXPR,
        script:
            "../scripts/slide_expression.py"

    rule bundle_expression_model:
        input:
            unpack(held_out_inputs),
            unpack(bundle_stain_input),
            checkpoint=f"{OUT}/models/{{model}}/final/best.pt",
            genes=f"{OUT}/expression/genes.tsv",
        output:
            directory(f"{OUT}/bundles/{{model}}"),
        log:
            f"logs/{DATASET}/bundle_expression_model/{{model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/bundle_expression_model/{{model}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 2
        resources:
            mem_mb=8000,
        params:
            samples=STAGES.labelled_slides,
            scale=model_scale,
            models=EXPR,
        script:
            "../scripts/bundle_expression_model.py"

    rule expression_metrics:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{model}}/{{sample}}.h5ad",
                model=STAGES.expression_models,
                sample=STAGES.labelled_slides,
            ),
            expression=expand(f"{OUT}/expression/{{s}}.h5ad", s=STAGES.labelled_slides),
        output:
            summary=f"{OUT}/metrics/expression_summary.tsv",
            per_gene=f"{OUT}/metrics/per_gene.tsv",
        log:
            f"logs/{DATASET}/expression_metrics.log",
        benchmark:
            f"benchmarks/{DATASET}/expression_metrics.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=8000,
        params:
            folds=FOLD_TABLE.to_dict("list") if FOLD_TABLE is not None else {},
            markers=EXPR["markers"],
            n_genes=EXPR["eval_genes"],
        script:
            "../scripts/expression_metrics.py"

    rule expression_figures:
        input:
            histories=expand(
                f"{OUT}/models/{{model}}/fold{{fold}}/history.tsv",
                model=STAGES.expression_models,
                fold=FOLDS,
            ),
            summary=f"{OUT}/metrics/expression_summary.tsv",
            per_gene=f"{OUT}/metrics/per_gene.tsv",
        output:
            curves=report(
                f"{OUT}/metrics/training_curves.png",
                caption="../report/training_curves.rst",
                category="3. Expression models",
            ),
            per_gene=report(
                f"{OUT}/metrics/per_gene_pcc.png",
                caption="../report/per_gene_pcc.rst",
                category="3. Expression models",
            ),
            summary=report(
                f"{OUT}/metrics/summary.png",
                caption="../report/summary.rst",
                category="3. Expression models",
            ),
        log:
            f"logs/{DATASET}/expression_figures.log",
        benchmark:
            f"benchmarks/{DATASET}/expression_figures.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        script:
            "../scripts/expression_figures.py"

    rule expression_maps:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{model}}/{{{{sample}}}}.h5ad",
                model=STAGES.expression_models,
            ),
            tiles=f"{OUT}/tiles/{{sample}}.h5",
            ingested=f"{OUT}/ingest/{{sample}}.h5ad",
        output:
            report(
                f"{OUT}/metrics/maps/{{sample}}.png",
                caption="../report/expression_maps.rst",
                category="3. Expression models",
                labels={"sample": "{sample}"},
            ),
        log:
            f"logs/{DATASET}/expression_maps/{{sample}}.log",
        benchmark:
            f"benchmarks/{DATASET}/expression_maps/{{sample}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            reference_model=STAGES.expression_models[0],
            folds=FOLD_TABLE.to_dict("list"),
        script:
            "../scripts/expression_maps.py"
