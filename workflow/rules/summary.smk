if EXPRESSION_MODELS or CELL_TYPE_MODELS:

    rule metrics_summary:
        input:
            summary_parts(),
        output:
            f"{OUT}/metrics/summary.tsv",
        log:
            f"logs/{DATASET}/metrics_summary.log",
        benchmark:
            f"benchmarks/{DATASET}/metrics_summary.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=2000,
        script:
            "../scripts/metrics_summary.py"
