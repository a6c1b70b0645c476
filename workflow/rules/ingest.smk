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


INGEST_INDEX = targets.section_index(OUT, "ingest")


# The index of a kind of per-section file (stpath.manifest): what a job reading every section's
# file of that kind depends on, so that Snakemake's checks stay linear in the sections. Run where
# Snakemake runs: it only lists paths.
localrules:
    section_index,


rule section_index:
    input:
        lambda wc: list(targets.indexed(OUT, SCALES, STAGES, wc.kind).values()),
    output:
        f"{OUT}/index/{{kind}}.tsv",
    log:
        f"logs/{DATASET}/section_index/{{kind}}.log",
    benchmark:
        f"benchmarks/{DATASET}/section_index/{{kind}}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        samples=lambda wc: list(targets.indexed(OUT, SCALES, STAGES, wc.kind)),
    script:
        "../scripts/section_index.py"
