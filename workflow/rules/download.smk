if DOWNLOADS:

    rule download_input:
        input:
            archive_of,
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
            download=lambda wc: DOWNLOADS[wc.relpath],
            data_root=str(DATA_ROOT),
        script:
            "../scripts/download.py"


if ARCHIVES:

    rule download_archive:
        output:
            f"{DATA_ROOT}/{{archive}}",
        log:
            f"logs/{DATASET}/download/{{archive}}.log",
        benchmark:
            f"benchmarks/{DATASET}/download/{{archive}}.tsv"
        wildcard_constraints:
            archive="|".join(re.escape(p) for p in ARCHIVES),
        retries: 2
        conda:
            "../../envs/download.yaml"
        threads: 1
        resources:
            mem_mb=500,
        params:
            url=lambda wc: ARCHIVES[wc.archive],
        script:
            "../scripts/download_archive.py"


if CONVERTED_REFERENCE:

    rule convert_reference:
        input:
            data_path(REFERENCE["convert_from"]),
        output:
            data_path(REFERENCE["path"]),
        log:
            f"logs/{DATASET}/convert_reference.log",
        # Cached across runs like the signatures (snakemake --cache); Snakemake forbids a
        # benchmark file on a cached rule, the log has the wall time.
        cache: True
        conda:
            "../../envs/deconvolution.yaml"
        threads: 1
        resources:
            mem_mb=48000,
        script:
            "../scripts/convert_reference.py"
