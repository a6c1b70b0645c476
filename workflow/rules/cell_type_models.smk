if STAGES.cell_type_models:

    rule cell_type_metrics:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{model}}/{{sample}}.h5ad",
                model=STAGES.cell_type_runs,
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

    rule cell_type_maps:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{model}}/{{{{sample}}}}.h5ad",
                model=STAGES.cell_type_models,
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
