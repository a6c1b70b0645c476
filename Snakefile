import time

from snakemake.utils import min_version

min_version("9.0")


# The demo config is the default. A config given with --configfile replaces it rather than being
# merged into it, so a dataset config is complete by itself (schema defaults fill the rest).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/slides.smk"
include: "workflow/rules/genes.smk"
include: "workflow/rules/deconvolution.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/expression_models.smk"
include: "workflow/rules/cell_type_models.smk"
include: "workflow/rules/apply.smk"
include: "workflow/rules/summary.smk"


# every warning a job of this run logged, and on failure each failed job's error and fix, on the
# console (they are otherwise in the logs)
RUN_START = time.time()


onsuccess:
    print_job_warnings(f"logs/{DATASET}", RUN_START)


onerror:
    print_job_warnings(f"logs/{DATASET}", RUN_START, errors=True)


onstart:
    # on SLURM, a job that no node can hold would pend forever: stop before submitting anything
    if (
        workflow.executor_plugin is not None
        and workflow.executor_plugin.name == "slurm"
    ):
        from tools.cluster import slurm_preflight

        slurm_preflight(workflow.dag.needrun_jobs())


rule all:
    default_target: True
    input:
        targets.final_outputs(
            OUT,
            list(SAMPLES),
            STAGES,
            FOLDS,
            list(APPLIED),
            truth=bool(DECON["truth"]),
            signatures_given=SIGNATURES_GIVEN,
        ),
