from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/tiling.smk"
include: "workflow/rules/expression.smk"
include: "workflow/rules/deconvolution.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
