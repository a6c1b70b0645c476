rule ingest:
    input:
        sample_inputs,
    output:
        f"{OUT}/ingest/{{sample}}.h5ad",
    params:
        sample=lambda wc: SAMPLES[wc.sample],
        qc=config["qc"],
    log:
        f"logs/{DATASET}/ingest/{{sample}}.log",
    benchmark:
        f"benchmarks/{DATASET}/ingest/{{sample}}.tsv"
    conda:
        "../../envs/ingest.yaml"
    script:
        "../scripts/ingest.py"
