if DOWNLOADS:

    rule download_input:
        output:
            f"{DATA_ROOT}/{{relpath}}",
        params:
            url=lambda wc: DOWNLOADS[wc.relpath],
        wildcard_constraints:
            relpath="|".join(re.escape(p) for p in DOWNLOADS),
        log:
            f"logs/{DATASET}/download/{{relpath}}.log",
        benchmark:
            f"benchmarks/{DATASET}/download/{{relpath}}.tsv"
        retries: 2
        conda:
            "../../envs/download.yaml"
        script:
            "../scripts/download.py"
