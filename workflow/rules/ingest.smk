rule ingest:
    input:
        sample_inputs,
    output:
        f"{OUT}/ingest/{{sample}}.h5ad",
    log:
        f"logs/{DATASET}/ingest/{{sample}}.log",
    benchmark:
        f"benchmarks/{DATASET}/ingest/{{sample}}.tsv"
    priority: 2
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        sample=lambda wc: SAMPLES[wc.sample],
        qc=config["qc"],
        finest_um=SCALES.finest_um,
    script:
        "../scripts/ingest.py"


rule folds:
    input:
        config["samples"],
    output:
        report(
            f"{OUT}/splits/folds.tsv",
            caption="../report/folds.rst",
            category="1. Slides and spots",
            subcategory="Folds",
        ),
    log:
        f"logs/{DATASET}/folds.log",
    benchmark:
        f"benchmarks/{DATASET}/folds.tsv"
    conda:
        "../../envs/expression.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        folds=config["folds"],
        samples=STAGES.labelled_slides,
    script:
        "../scripts/folds.py"
