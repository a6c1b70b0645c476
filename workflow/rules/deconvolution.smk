DECON_OUT = f"{OUT}/deconvolution"
DECON_INDEX = targets.decon_index(OUT)
# every section's estimates, read through DECON_INDEX
DECON_FILES = [targets.decon_path(OUT, s) for s in STAGES.samples_with_expression]

if STAGES.deconvolution and SIGNATURES_GIVEN:

    rule signature_table:
        input:
            data_path(REFERENCE["signatures"]),
        output:
            f"{DECON_OUT}/reference/signatures.tsv",
        log:
            f"logs/{DATASET}/signature_table.log",
        benchmark:
            f"benchmarks/{DATASET}/signature_table.tsv"
        conda:
            "../../envs/deconvolution.yaml"
        threads: 1
        resources:
            mem_mb=2000,
        script:
            "../scripts/signature_table.py"

elif STAGES.deconvolution:

    rule reference_signatures:
        input:
            reference_inputs,
        output:
            signatures=f"{DECON_OUT}/reference/signatures.tsv",
            history=f"{DECON_OUT}/reference/history.tsv",
            elbo=report(
                f"{DECON_OUT}/reference/elbo.png",
                caption="../report/reference_elbo.rst",
                category="2. Deconvolution",
                subcategory="Training",
            ),
        log:
            f"logs/{DATASET}/reference_signatures.log",
        # Cached across runs and datasets (snakemake --cache): Snakemake forbids a benchmark file
        # on a cached rule, so wall time and epochs/s go to the log and to `make bench`.
        cache: True
        priority: 3
        conda:
            "../../envs/deconvolution.yaml"
        threads: 4
        resources:
            mem_mb=16000,
            gpu=1,
        params:
            reference=REFERENCE,
            data_root=str(DATA_ROOT),
            gene_filter=DECON["gene_filter"],
            regression=DECON["regression"],
            accelerator=DECON["accelerator"],
            seed=DECON["seed"],
        script:
            "../scripts/reference_signatures.py"


if STAGES.deconvolution:

    rule cell2location:
        input:
            ingested=INGEST_INDEX,
            signatures=f"{DECON_OUT}/reference/signatures.tsv",
        output:
            # first: what the jobs reading every section's estimates depend on (stpath.manifest)
            index=DECON_INDEX,
            h5ad=expand(
                f"{DECON_OUT}/{{sample}}.h5ad", sample=STAGES.samples_with_expression
            ),
            tsv=expand(
                f"{DECON_OUT}/{{sample}}_abundance.tsv",
                sample=STAGES.samples_with_expression,
            ),
            history=f"{DECON_OUT}/mapping/history.tsv",
            elbo=report(
                f"{DECON_OUT}/mapping/elbo.png",
                caption="../report/mapping_elbo.rst",
                category="2. Deconvolution",
                subcategory="Training",
            ),
            reconstruction=report(
                f"{DECON_OUT}/mapping/reconstruction.png",
                caption="../report/reconstruction.rst",
                category="2. Deconvolution",
                subcategory="Training",
            ),
        log:
            f"logs/{DATASET}/cell2location.log",
        benchmark:
            f"benchmarks/{DATASET}/cell2location.tsv"
        priority: 3
        conda:
            "../../envs/deconvolution.yaml"
        threads: 4
        resources:
            mem_mb=16000,
            gpu=1,
        params:
            samples=STAGES.samples_with_expression,
            signatures_source=(
                data_path(REFERENCE["signatures"])
                if SIGNATURES_GIVEN
                else data_path(REFERENCE["path"])
            ),
            min_shared_genes=DECON["min_shared_genes"],
            mapping=DECON["mapping"],
            accelerator=DECON["accelerator"],
            seed=DECON["seed"],
            files={
                "ingested": list(
                    targets.indexed(OUT, SCALES, STAGES, "ingest").values()
                )
            },
        script:
            "../scripts/cell2location.py"

    # One job draws every section's maps: a job per section would depend on cell2location's
    # outputs for every section (Snakemake walks them per dependent job: sections x sections).
    rule abundance_maps:
        input:
            adata=DECON_INDEX,
            tiles=[
                t
                for s in STAGES.samples_with_expression
                for t in [thumbnail_path(s)]
                if t
            ],
        output:
            index=f"{DECON_OUT}/maps/index.tsv",  # first (stpath.manifest)
            maps=[
                report(
                    f"{DECON_OUT}/maps/{sample}.png",
                    caption="../report/abundance_map.rst",
                    category="2. Deconvolution",
                    subcategory="Abundance maps",
                    labels={"sample": sample},
                )
                for sample in STAGES.samples_with_expression
            ],
        log:
            f"logs/{DATASET}/abundance_maps.log",
        benchmark:
            f"benchmarks/{DATASET}/abundance_maps.tsv"
        conda:
            "../../envs/deconvolution.yaml"
        threads: 1
        resources:
            mem_mb=3000,
        params:
            samples=STAGES.samples_with_expression,
            estimate=DECON["map_estimate"],
            files={
                "adata": DECON_FILES,
                "tiles": [thumbnail_path(s) for s in STAGES.samples_with_expression],
            },
        script:
            "../scripts/abundance_maps.py"

    rule marker_check:
        input:
            adata=DECON_INDEX,
            signatures=f"{DECON_OUT}/reference/signatures.tsv",
        output:
            table=f"{DECON_OUT}/marker_check.tsv",
            figure=report(
                f"{DECON_OUT}/marker_check.png",
                caption="../report/marker_check.rst",
                category="2. Deconvolution",
                subcategory="Checks",
            ),
        log:
            f"logs/{DATASET}/marker_check.log",
        benchmark:
            f"benchmarks/{DATASET}/marker_check.tsv"
        conda:
            "../../envs/deconvolution.yaml"
        threads: 1
        resources:
            mem_mb=3000,
        params:
            estimate=DECON["map_estimate"],
            n_markers=DECON["markers_per_type"],
            files={"adata": DECON_FILES},
        script:
            "../scripts/marker_check.py"


if STAGES.deconvolution and DECON["truth"]:

    rule deconvolution_accuracy:
        input:
            adata=DECON_INDEX,
            truth=truth_files,
        output:
            table=f"{DECON_OUT}/accuracy.tsv",
            figure=report(
                f"{DECON_OUT}/accuracy.png",
                caption="../report/accuracy.rst",
                category="2. Deconvolution",
                subcategory="Checks",
            ),
        log:
            f"logs/{DATASET}/deconvolution_accuracy.log",
        benchmark:
            f"benchmarks/{DATASET}/deconvolution_accuracy.tsv"
        conda:
            "../../envs/deconvolution.yaml"
        threads: 1
        resources:
            mem_mb=3000,
        params:
            files={"adata": DECON_FILES},
        script:
            "../scripts/deconvolution_accuracy.py"


if STAGES.published_check:

    rule published_check:
        input:
            unpack(published_tables),
            adata=DECON_INDEX,
            signatures=f"{DECON_OUT}/reference/signatures.tsv",
            reference=reference_cells,
            tiles=lambda wc: thumbnail_path(PUBLISHED_MAP_SAMPLE),
        output:
            table=f"{DECON_OUT}/published_check.tsv",
            heatmap=report(
                f"{DECON_OUT}/published_check.png",
                caption="../report/published_check.rst",
                category="2. Deconvolution",
                subcategory="Checks",
            ),
            maps=report(
                f"{DECON_OUT}/published_check_maps.png",
                caption="../report/published_check_maps.rst",
                category="2. Deconvolution",
                subcategory="Checks",
            ),
        log:
            f"logs/{DATASET}/published_check.log",
        benchmark:
            f"benchmarks/{DATASET}/published_check.tsv"
        conda:
            "../../envs/deconvolution.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            samples=STAGES.samples_with_expression,
            published=config["published_deconvolution"],
            label_column=REFERENCE["label_column"],
            min_matched=config["qc"]["min_matched_spots"],
            map_sample=PUBLISHED_MAP_SAMPLE,
            map_tier=PUBLISHED_MAP_TIER,
            files={"adata": DECON_FILES},
        script:
            "../scripts/published_check.py"


if STAGES.cell_type_models and CELL["labels"]["source"] == "published":

    rule published_labels:
        input:
            ingested=f"{OUT}/ingest/{{sample}}.h5ad",
            table=lambda wc: published_table(wc.tier, wc.sample),
        output:
            f"{DECON_OUT}/published/{{tier}}/{{sample}}.h5ad",
        log:
            f"logs/{DATASET}/published_labels/{{tier}}_{{sample}}.log",
        benchmark:
            f"benchmarks/{DATASET}/published_labels/{{tier}}_{{sample}}.tsv"
        conda:
            "../../envs/deconvolution.yaml"
        threads: 1
        resources:
            mem_mb=2000,
        params:
            min_matched=config["qc"]["min_matched_spots"],
            tier=lambda wc: config["published_deconvolution"]["tiers"][wc.tier],
        script:
            "../scripts/published_labels.py"
