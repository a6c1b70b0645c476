if STAGES.cell_type_models:

    rule cell_type_metrics:
        input:
            predictions=[
                targets.prediction_index(OUT, m) for m in STAGES.cell_type_runs
            ],
            truth=lambda wc: truth_files(wc, STAGES.tested),
            labels=targets.label_inputs(OUT, CELL["labels"], STAGES.tested),
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
            samples=STAGES.tested,
            colocalisation=CELL["colocalisation"],
            truth_samples=STAGES.tested if DECON["truth"] else [],
            folds=FOLD_TABLE.to_dict("list"),
            files={
                "predictions": [
                    targets.prediction_path(OUT, m, s)
                    for m in STAGES.cell_type_runs
                    for s in STAGES.tested
                ],
                "labels": targets.label_files(OUT, CELL["labels"], STAGES.tested),
            },
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
            summary=report(
                f"{OUT}/metrics/cell_types/summary.png",
                caption="../report/cell_type_summary.rst",
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

    # One job draws every held-out slide's maps (as abundance_maps).
    rule cell_type_maps:
        input:
            predictions=[
                targets.prediction_index(OUT, m) for m in STAGES.cell_type_models
            ],
            labels=targets.label_inputs(OUT, CELL["labels"], STAGES.tested),
            tiles=[f"{OUT}/tiles/{s}.h5" for s in STAGES.tested],
            truth=lambda wc: truth_files(wc, STAGES.tested),
        output:
            index=f"{OUT}/metrics/cell_types/maps/index.tsv",  # first (stpath.manifest)
            maps=[
                report(
                    f"{OUT}/metrics/cell_types/maps/{sample}.png",
                    caption="../report/cell_type_maps.rst",
                    category="4. Cell-type models",
                    labels={"sample": sample},
                )
                for sample in STAGES.tested
            ],
        log:
            f"logs/{DATASET}/cell_type_maps.log",
        benchmark:
            f"benchmarks/{DATASET}/cell_type_maps.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            samples=STAGES.tested,
            map_types=CELL["map_types"],
            folds=FOLD_TABLE.to_dict("list"),
            files=lambda wc: {
                "predictions": [
                    [
                        targets.prediction_path(OUT, m, s)
                        for m in STAGES.cell_type_models
                    ]
                    for s in STAGES.tested
                ],
                "labels": targets.label_files(OUT, CELL["labels"], STAGES.tested),
                "truth": [truth_files(wc, [s]) for s in STAGES.tested],
            },
        script:
            "../scripts/cell_type_maps.py"
