if DOWNLOADS:

    rule download_input:
        output:
            f"{DATA_ROOT}/{{relpath}}",
        log:
            f"logs/{DATASET}/download/{{relpath}}.log",
        benchmark:
            f"benchmarks/{DATASET}/download/{{relpath}}.tsv"
        wildcard_constraints:
            relpath="|".join(re.escape(p) for p in DOWNLOADS),
        retries: 2
        conda:
            "../../envs/download.yaml"
        threads: 1
        resources:
            mem_mb=500,
        params:
            url=lambda wc: DOWNLOADS[wc.relpath],
        script:
            "../scripts/download.py"
