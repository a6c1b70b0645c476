rule ingest:
    input:
        sample_inputs,
    output:
        f"{OUT}/ingest/{{sample}}.h5ad",
    log:
        f"logs/{DATASET}/ingest/{{sample}}.log",
    benchmark:
        f"benchmarks/{DATASET}/ingest/{{sample}}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        sample=lambda wc: SAMPLES[wc.sample],
        qc=config["qc"],
    script:
        "../scripts/ingest.py"
