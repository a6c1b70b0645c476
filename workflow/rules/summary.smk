if STAGES.expression_models or STAGES.cell_type_models:

    rule metrics_summary:
        input:
            targets.summary_parts(OUT, STAGES),
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

    # The report's landing page shows this table (workflow/report/workflow.rst).
    rule landing_table:
        input:
            f"{OUT}/metrics/summary.tsv",
        output:
            report(
                f"{OUT}/metrics/headline.tsv",
                caption="../report/headline.rst",
                category="0. Headline",
            ),
        log:
            f"logs/{DATASET}/landing_table.log",
        benchmark:
            f"benchmarks/{DATASET}/landing_table.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/landing_table.py"


if STAGES.expression_models:

    # The report's cross-patient section: per test patient and model, within- vs cross-patient PCC,
    # beside the runs of report.compare_runs (other stain options or folds on the same slides).
    rule cross_patient:
        input:
            summary=f"{OUT}/metrics/expression_summary.tsv",
            compare=list(config["report"]["compare_runs"].values()),
        output:
            table=f"{OUT}/metrics/cross_patient.tsv",
            figure=report(
                f"{OUT}/metrics/cross_patient.png",
                caption="../report/cross_patient.rst",
                category="6. Cross-patient",
            ),
        log:
            f"logs/{DATASET}/cross_patient.log",
        benchmark:
            f"benchmarks/{DATASET}/cross_patient.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            labels=list(config["report"]["compare_runs"]),
            patient_of=dict(zip(FOLD_TABLE["sample"], FOLD_TABLE["patient"])),
            run=run_label(config),
        script:
            "../scripts/cross_patient.py"
