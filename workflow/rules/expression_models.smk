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
                    for s in STAGES.tested
                ],
                # every labelled slide's: the HEST protocol's references are the training slides'
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

    # One job draws every held-out slide's maps (as abundance_maps: a job per slide would walk
    # every model's predictions of every slide).
    rule expression_maps:
        input:
            predictions=[
                targets.prediction_index(OUT, m) for m in STAGES.expression_models
            ],
            tiles=[f"{OUT}/tiles/{s}.h5" for s in STAGES.tested],
            ingested=INGEST_INDEX,
        output:
            index=f"{OUT}/metrics/maps/index.tsv",  # first (stpath.manifest)
            maps=[
                report(
                    f"{OUT}/metrics/maps/{sample}.png",
                    caption="../report/expression_maps.rst",
                    category="3. Expression models",
                    labels={"sample": sample},
                )
                for sample in STAGES.tested
            ],
        log:
            f"logs/{DATASET}/expression_maps.log",
        benchmark:
            f"benchmarks/{DATASET}/expression_maps.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            samples=STAGES.tested,
            reference_model=STAGES.expression_models[0],
            folds=FOLD_TABLE.to_dict("list"),
            files={
                "predictions": [
                    [
                        targets.prediction_path(OUT, m, s)
                        for m in STAGES.expression_models
                    ]
                    for s in STAGES.tested
                ],
                "ingested": [targets.ingest_path(OUT, s) for s in STAGES.tested],
            },
        script:
            "../scripts/expression_maps.py"
