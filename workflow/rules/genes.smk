rule gene_sets:
    input:
        INGEST_INDEX,
    output:
        # first: what every job reading the normalised sections depends on (stpath.manifest)
        genes=f"{OUT}/genes/genes.tsv",
        normalised=expand(
            f"{OUT}/genes/{{sample}}.h5ad", sample=STAGES.samples_with_expression
        ),
    log:
        f"logs/{DATASET}/gene_sets.log",
    benchmark:
        f"benchmarks/{DATASET}/gene_sets.tsv"
    conda:
        "../../envs/expression.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        genes=config["genes"],
        files={
            "ingested": list(targets.indexed(OUT, SCALES, STAGES, "ingest").values())
        },
    script:
        "../scripts/gene_sets.py"
