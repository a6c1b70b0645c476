if EXPRESSION_MODELS:

    rule train_expression_model:
        input:
            unpack(fold_training_inputs),
            genes=f"{OUT}/expression/genes.tsv",
        output:
            checkpoint=f"{OUT}/models/{{model}}/fold{{fold}}/best.pt",
            history=f"{OUT}/models/{{model}}/fold{{fold}}/history.tsv",
        log:
            f"logs/{DATASET}/train_expression_model/{{model}}_fold{{fold}}.log",
        benchmark:
            f"benchmarks/{DATASET}/train_expression_model/{{model}}_fold{{fold}}.tsv"
        priority: 2
        conda:
            "../../envs/models.yaml"
        threads: 4
        resources:
            mem_mb=16000,
            gpu=1,
        params:
            samples=lambda wc: fold_samples(wc.fold, "train"),
            workdir=lambda wc: f"{OUT}/models/{wc.model}/fold{wc.fold}/work",
            models=EXPR,
        script:
            "../scripts/train_expression_model.py"

    # One job per model: each fold's model is loaded and its retrieval keys embedded once for all
    # the slides the fold holds out; the predictions stay one file per slide.
    rule predict_expression:
        input:
            unpack(held_out_inputs),
            checkpoints=fold_checkpoints,
            genes=f"{OUT}/expression/genes.tsv",
        output:
            expand(
                f"{OUT}/predictions/{{{{model}}}}/{{sample}}.h5ad",
                sample=SAMPLES_WITH_SLIDE,
            ),
        log:
            f"logs/{DATASET}/predict_expression/{{model}}.log",
        benchmark:
            f"benchmarks/{DATASET}/predict_expression/{{model}}.tsv"
        priority: 1
        conda:
            "../../envs/models.yaml"
        threads: 2
        resources:
            mem_mb=8000,
            gpu=1,
        params:
            samples=SAMPLES_WITH_SLIDE,
            folds=FOLD_TABLE.to_dict("list") if FOLD_TABLE is not None else {},
            fold_ids=FOLDS,
            models=EXPR,
        script:
            "../scripts/predict_expression.py"

    rule expression_metrics:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{model}}/{{sample}}.h5ad",
                model=EXPRESSION_MODELS,
                sample=SAMPLES_WITH_SLIDE,
            ),
            expression=expand(f"{OUT}/expression/{{s}}.h5ad", s=SAMPLES_WITH_SLIDE),
        output:
            summary=f"{OUT}/metrics/expression_summary.tsv",
            per_gene=f"{OUT}/metrics/per_gene.tsv",
        log:
            f"logs/{DATASET}/expression_metrics.log",
        benchmark:
            f"benchmarks/{DATASET}/expression_metrics.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=8000,
        params:
            folds=FOLD_TABLE.to_dict("list") if FOLD_TABLE is not None else {},
            markers=EXPR["markers"],
            n_genes=EXPR["eval_genes"],
        script:
            "../scripts/expression_metrics.py"

    rule expression_figures:
        input:
            histories=expand(
                f"{OUT}/models/{{model}}/fold{{fold}}/history.tsv",
                model=EXPRESSION_MODELS,
                fold=FOLDS,
            ),
            summary=f"{OUT}/metrics/expression_summary.tsv",
            per_gene=f"{OUT}/metrics/per_gene.tsv",
        output:
            curves=report(
                f"{OUT}/metrics/training_curves.png",
                caption="../report/training_curves.rst",
                category="3. Expression models",
            ),
            per_gene=report(
                f"{OUT}/metrics/per_gene_pcc.png",
                caption="../report/per_gene_pcc.rst",
                category="3. Expression models",
            ),
            summary=report(
                f"{OUT}/metrics/summary.png",
                caption="../report/summary.rst",
                category="3. Expression models",
            ),
        log:
            f"logs/{DATASET}/expression_figures.log",
        benchmark:
            f"benchmarks/{DATASET}/expression_figures.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        script:
            "../scripts/expression_figures.py"

    rule expression_maps:
        input:
            predictions=expand(
                f"{OUT}/predictions/{{model}}/{{{{sample}}}}.h5ad",
                model=EXPRESSION_MODELS,
            ),
            tiles=f"{OUT}/tiles/{{sample}}.h5",
        output:
            report(
                f"{OUT}/metrics/maps/{{sample}}.png",
                caption="../report/expression_maps.rst",
                category="3. Expression models",
                labels={"sample": "{sample}"},
            ),
        log:
            f"logs/{DATASET}/expression_maps/{{sample}}.log",
        benchmark:
            f"benchmarks/{DATASET}/expression_maps/{{sample}}.tsv"
        conda:
            "../../envs/models.yaml"
        threads: 1
        resources:
            mem_mb=4000,
        params:
            reference_model=EXPRESSION_MODELS[0],
        script:
            "../scripts/expression_maps.py"
