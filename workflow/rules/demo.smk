if config["demo"]["generate"]:

    rule demo_reference:
        output:
            reference=f"{DATA_ROOT}/reference/sc_reference.h5ad",
            signatures=f"{DATA_ROOT}/truth/signatures.tsv",
        log:
            f"logs/{DATASET}/demo_reference.log",
        benchmark:
            f"benchmarks/{DATASET}/demo_reference.tsv"
        priority: 3
        conda:
            "../../envs/demo.yaml"
        threads: 1
        resources:
            mem_mb=3000,
        params:
            demo=demo_job_params(config["demo"]),
        script:
            "../scripts/demo_reference.py"

    rule demo_slide:
        output:
            slide=f"{DATA_ROOT}/slides/{{sample}}.tif",
            matrix=f"{DATA_ROOT}/spaceranger/{{sample}}/filtered_feature_bc_matrix.h5",
            positions=f"{DATA_ROOT}/spaceranger/{{sample}}/spatial/tissue_positions.csv",
            scalefactors=f"{DATA_ROOT}/spaceranger/{{sample}}/spatial/scalefactors_json.json",
            lowres=f"{DATA_ROOT}/spaceranger/{{sample}}/spatial/tissue_lowres_image.png",
            hires=f"{DATA_ROOT}/spaceranger/{{sample}}/spatial/tissue_hires_image.png",
            truth=f"{DATA_ROOT}/truth/{{sample}}_abundance.tsv",
        log:
            f"logs/{DATASET}/demo_slide/{{sample}}.log",
        benchmark:
            f"benchmarks/{DATASET}/demo_slide/{{sample}}.tsv"
        priority: 2
        conda:
            "../../envs/demo.yaml"
        threads: 1
        resources:
            mem_mb=3000,
        params:
            demo=demo_job_params(config["demo"]),
            patient=lambda wc: SAMPLES[wc.sample].patient,
        script:
            "../scripts/demo_slide.py"
