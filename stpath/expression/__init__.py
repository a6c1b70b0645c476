"""The expression branch (CMRCNet, its BLEEP ablation, direct regression): typed settings, fitting
and applying the models, retrieval, metrics in both protocols the field uses, and figures. Never
imports the cell-type branch."""
