if STAGES.expression_models:

    rule expression_metrics:
        input:
            predictions=[
                targets.prediction_index(OUT, m) for m in STAGES.expression_runs
            ],
            genes=f"{OUT}/genes/genes.tsv",
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
            files={
                "predictions": [
                    targets.prediction_path(OUT, m, s)
                    for m in STAGES.expression_runs
                    for s in STAGES.labelled_slides
                ],
                "expression": [
                    f"{OUT}/genes/{s}.h5ad" for s in STAGES.labelled_slides
                ],
            },
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
            predictions=[
                targets.prediction_index(OUT, m) for m in STAGES.expression_models
            ],
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
            files=lambda wc: {
                "predictions": [
                    targets.prediction_path(OUT, m, wc.sample)
                    for m in STAGES.expression_models
                ]
            },
        script:
            "../scripts/expression_maps.py"
