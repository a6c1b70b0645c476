if APPLIED:

    # One job per bundle: its model is loaded once for every slide of this run.
    rule apply_bundle:
        input:
            bundle=lambda wc: f"{APPLIED[wc.bundle].path}/bundle.json",
            tiles=expand(f"{OUT}/tiles/{{s}}.h5", s=STAGES.samples_with_slide),
        output:
            index=f"{OUT}/applied/{{bundle}}/index.tsv",  # first (stpath.manifest)
            adata=expand(
                f"{OUT}/applied/{{{{bundle}}}}/{{sample}}.h5ad",
                sample=STAGES.samples_with_slide,
            ),
            png=[
                report(
                    f"{OUT}/applied/{{bundle}}/{sample}.png",
                    caption="../report/applied_bundle.rst",
                    category="5. Whole slides",
                    subcategory="bundles of another run",
                    labels={"bundle": "{bundle}", "sample": sample},
                )
                for sample in STAGES.samples_with_slide
            ],
        log:
            f"logs/{DATASET}/apply_bundle/{{bundle}}.log",
        benchmark:
            f"benchmarks/{DATASET}/apply_bundle/{{bundle}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 2
        resources:
            mem_mb=8000,
            gpu=1,
        params:
            bundle=lambda wc: str(APPLIED[wc.bundle].path),
            samples=STAGES.samples_with_slide,
            genes=config["apply"]["genes"],
            map_types=CELL["map_types"],
        script:
            "../scripts/apply_bundle.py"
