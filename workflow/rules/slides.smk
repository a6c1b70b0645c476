# Per-slide stain normalisation (stain_normalisation.method): each slide's stain is fitted once on a
# seeded sample of its tissue tiles; tiles and patches are mapped to the target's as they are cut.
rule stain_fit:
    input:
        slide=slide_of,
        adata=f"{OUT}/ingest/{{sample}}.h5ad",
    output:
        f"{OUT}/stain/{{sample}}.json",
    log:
        f"logs/{DATASET}/stain_fit/{{sample}}.log",
    benchmark:
        f"benchmarks/{DATASET}/stain_fit/{{sample}}.tsv"
    conda:
        "../../envs/slides.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        tissue=config["tissue"],
        tiling=config["tiling"],
        stain=config["stain_normalisation"],
    script:
        "../scripts/stain_fit.py"


rule tissue_tiles:
    input:
        unpack(stain_inputs),
        slide=slide_of,
        adata=f"{OUT}/ingest/{{sample}}.h5ad",
    output:
        f"{OUT}/tiles/{{sample}}.h5",
    log:
        f"logs/{DATASET}/tissue_tiles/{{sample}}.log",
    benchmark:
        f"benchmarks/{DATASET}/tissue_tiles/{{sample}}.tsv"
    conda:
        "../../envs/slides.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        tissue=config["tissue"],
        tiling=config["tiling"],
    script:
        "../scripts/tissue_tiles.py"


rule spot_patches:
    input:
        unpack(stain_inputs),
        slide=slide_of,
        adata=f"{OUT}/ingest/{{sample}}.h5ad",
        tiles=f"{OUT}/tiles/{{sample}}.h5",
    output:
        f"{OUT}/patches/{{sample}}.h5",
    log:
        f"logs/{DATASET}/spot_patches/{{sample}}.log",
    benchmark:
        f"benchmarks/{DATASET}/spot_patches/{{sample}}.tsv"
    conda:
        "../../envs/slides.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        patches=config["patches"],
        tissue=config["tissue"],
    script:
        "../scripts/spot_patches.py"


rule qc_tissue_spots:
    input:
        adata=f"{OUT}/ingest/{{sample}}.h5ad",
        tiles=f"{OUT}/tiles/{{sample}}.h5",
        patches=f"{OUT}/patches/{{sample}}.h5",
    output:
        report(
            f"{OUT}/qc/{{sample}}_tissue_spots.png",
            caption="../report/tissue_spots.rst",
            category="1. Slides and spots",
            labels={"sample": "{sample}"},
        ),
    log:
        f"logs/{DATASET}/qc_tissue_spots/{{sample}}.log",
    benchmark:
        f"benchmarks/{DATASET}/qc_tissue_spots/{{sample}}.tsv"
    conda:
        "../../envs/slides.yaml"
    script:
        "../scripts/qc_tissue_spots.py"


# A model branch with its own patch scale (expression_models.patches, cell_type_models.patches)
# learns from patches cut at it, and maps whole slides on tiles cut at it when the run's tiles
# cover another field of view; each extra scale is cut once, into its own folder.
if SCALES.by_key():

    use rule tissue_tiles as tissue_tiles_at_scale with:
        output:
            f"{OUT}/tiles/{{scale}}/{{sample}}.h5",
        log:
            f"logs/{DATASET}/tissue_tiles/{{scale}}/{{sample}}.log",
        benchmark:
            f"benchmarks/{DATASET}/tissue_tiles/{{scale}}/{{sample}}.tsv"
        params:
            tissue=config["tissue"],
            tiling=lambda wc: {
                **config["tiling"],
                **SCALES.by_key()[wc.scale].as_dict(),
            },

    use rule spot_patches as spot_patches_at_scale with:
        output:
            f"{OUT}/patches/{{scale}}/{{sample}}.h5",
        log:
            f"logs/{DATASET}/spot_patches/{{scale}}/{{sample}}.log",
        benchmark:
            f"benchmarks/{DATASET}/spot_patches/{{scale}}/{{sample}}.tsv"
        params:
            patches=lambda wc: SCALES.by_key()[wc.scale].as_dict(),
            tissue=config["tissue"],
