"""Training over several seeds (``train.seeds``): replicate names, the jobs a dry-run plans, the
metric tables' seed column, and the headline's mean and spread over the seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stpath.metrics import COLUMNS, by_seed, headline, landing_table, seeds_phrase
from stpath.models import registry
from stpath.predictions import SpotPrediction, read_spot_prediction, write_spot_prediction
from stpath.training.job import for_replicate


def test_each_further_seed_is_a_replicate_in_its_own_folder_and_the_first_keeps_the_models():
    train = {"seed": 3407, "seeds": 3}
    assert registry.train_seeds(train) == [3407, 3408, 3409]
    assert registry.train_seeds({"seed": 5}) == [5]  # default: one seed
    assert registry.replicates(["cuca", "ridge_probe"], train) == [
        "cuca",
        "ridge_probe",
        "cuca/seed3408",
        "ridge_probe/seed3408",
        "cuca/seed3409",
        "ridge_probe/seed3409",
    ]
    assert registry.split_replicate("cuca/seed3408") == ("cuca", 3408)
    assert registry.split_replicate("cuca") == ("cuca", None)
    assert registry.section("cuca/seed3408") == "cell_type_models"
    pattern = registry.WILDCARD.format("|".join(registry.MODELS))
    import re

    assert re.fullmatch(pattern, "cmrcnet/seed43") and re.fullmatch(pattern, "cmrcnet")
    assert not re.fullmatch(pattern, "cmrcnet/fold0") and not re.fullmatch(pattern, "nope/seed1")
    settings = {"train": {"seed": 3407, "seeds": 3, "lr": 0.1}, "models": ["cuca"]}
    model, replicate = for_replicate("cuca/seed3409", settings)
    assert model == "cuca" and replicate["train"] == {"seed": 3409, "seeds": 3, "lr": 0.1}
    assert settings["train"]["seed"] == 3407  # the run's own settings are left alone
    assert for_replicate("cuca", settings) == ("cuca", settings)


def _prediction(model, fold, sample, seed, shift):
    index = [f"s{i}" for i in range(6)]
    target = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0)[::-1]}, index=index)
    return SpotPrediction(model, fold, sample, target + shift, target, "measured", np.zeros((6, 2)), {}, seed)


def test_a_prediction_records_its_seed_and_the_tables_score_each_seed_apart(tmp_path):
    p = _prediction("cuca", 0, "A", 3408, 0.0)
    write_spot_prediction(p, tmp_path / "a.h5ad")
    assert read_spot_prediction(tmp_path / "a.h5ad").seed == 3408
    predictions = [_prediction("cuca", 0, "A", s, 0.1 * i) for i, s in enumerate((3407, 3408))]

    def evaluate(some):
        assert len({q.seed for q in some}) == 1  # the evaluator sees one seed at a time
        rows = [(q.model, "t", "g", "per_slide", q.fold, q.sample, "n", float(len(some))) for q in some]
        table = pd.DataFrame(rows, columns=COLUMNS)
        return table, table[["fold", "value"]]

    table, other = by_seed(predictions, evaluate)
    assert list(other.columns) == ["seed", "fold", "value"]  # no model column: the seed first
    assert list(table.columns[:2]) == ["model", "seed"] and list(table["seed"]) == [3407, 3408]
    assert seeds_phrase(table) == "mean over 2 training seeds"
    assert seeds_phrase(table[table["seed"] == 3407]) == "1 training seed"


def _summary(values_by_seed: dict) -> pd.DataFrame:
    rows = []
    for seed, values in values_by_seed.items():
        for (fold, sample), value in values.items():
            rows.append(("cuca", seed, "truth", "cell_types", "per_slide", fold, sample, "pearson_mean", value))
    return pd.DataFrame(rows, columns=["model", "seed", *COLUMNS[1:]])


def test_the_headline_is_the_mean_and_sd_over_seeds_of_each_seeds_released_average():
    """Seed 1: folds 0 (slides 0.1, 0.3) and 1 (0.6) give (0.2 + 0.6) / 2 = 0.4; seed 2: 0.6 and
    0.8 give 0.7. Headline 0.55, s.d. 0.212 over the 2 seeds; one seed has no s.d."""
    summary = _summary(
        {
            1: {(0, "A"): 0.1, (0, "B"): 0.3, (1, "C"): 0.6},
            2: {(0, "A"): 0.5, (0, "B"): 0.7, (1, "C"): 0.8},
        }
    )
    row = headline(summary).iloc[0]
    assert row["value"] == pytest.approx(0.55)
    assert row["sd"] == pytest.approx(np.std([0.4, 0.7], ddof=1))
    assert (row["n_seeds"], row["n_folds"], row["n_slides"]) == (2, 2, 3)
    one = headline(summary[summary["seed"] == 1]).iloc[0]
    assert one["value"] == pytest.approx(0.4) and np.isnan(one["sd"]) and one["n_seeds"] == 1
    table = landing_table(summary.assign(patients="cross-patient"))
    assert table.to_dict("records") == [
        dict(
            target="truth",
            model="cuca",
            patients="cross-patient",
            cell_types=0.55,
            cell_types_sd=round(np.std([0.4, 0.7], ddof=1), 3),
            seeds=2,
        )
    ]
    assert list(landing_table(summary[summary["seed"] == 1]).columns) == ["target", "model", "patients", "cell_types"]


@pytest.mark.workflow
def test_a_run_over_three_seeds_plans_each_fold_three_times_and_scores_every_seed(tmp_path):
    """The demo with ``cell_type_models.train.seeds: 3``: each cell-type model trains each fold at
    seeds 3407, 3408 and 3409 (the first in the model's folder, the others in ``seed<s>/``), the
    final model and the whole-slide maps at the first seed only; the metrics read every seed's
    predictions. The expression models keep one seed."""
    import re

    import yaml

    from conftest import config_args, run_snakemake

    (tmp_path / "seeds.yaml").write_text(yaml.safe_dump({"cell_type_models": {"train": {"seeds": 3}}}))
    args = config_args("config.yaml")
    r = run_snakemake(["-n", "--cores", "1", *args[:2], str(tmp_path / "seeds.yaml"), *args[2:]], tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    trained = set(re.findall(r"output: \S+/models/(\S+?)/(fold\d+|final)/best\.pt", r.stdout))
    cell_types = ["cuca", "cuca_image_only", "linear_probe", "ridge_probe"]
    for model in cell_types:
        for fold in ("fold0", "fold1"):
            assert {(model, fold), (f"{model}/seed3408", fold), (f"{model}/seed3409", fold)} <= trained
        assert (model, "final") in trained and (f"{model}/seed3408", "final") not in trained
    assert not any(m.startswith("cmrcnet/") for m, _ in trained)
    predicted = set(re.findall(r"output: (\S+/predictions/\S+?)/index\.tsv", r.stdout))
    assert any(p.endswith("predictions/cuca/seed3409") for p in predicted)
    assert not any("/seed" in p for p in re.findall(r"output: (\S+/(?:wholeslide|bundles)/\S+)", r.stdout))


def test_the_docs_demo_numbers_each_carry_a_spread_and_a_number_outside_it_fails():
    """docs/methods.md gives every demo number as mean ± s.d. (over seeds and kernel settings); the
    docs test accepts a run whose numbers are the documented means, and names the one number moved
    just beyond its band (6 s.d., at least the docs' rounding), while the same move inside the band
    of a number that moves more passes."""
    from tools.demo_spread import BAND, band, disagreements, documented, parse_cell

    from conftest import doc_table

    docs = documented(doc_table)
    numbers = {k: d for k, d in docs.items() if d is not None}
    assert len(numbers) >= 40
    assert len({d[1] for d in numbers.values()}) > 3  # measured per number, not one tolerance for all
    means = {k: mean for k, (mean, _, _) in numbers.items()} | {k: float("nan") for k, d in docs.items() if d is None}
    assert disagreements(docs, means) == []
    key, (mean, sd, _) = max(numbers.items(), key=lambda kv: kv[1][1])  # the number that moves most
    moved = {**means, key: mean + band(sd) + 0.002}
    found = disagreements(docs, moved)
    assert len(found) == 1 and str(key) in found[0]
    quiet, (q_mean, q_sd, _) = min(numbers.items(), key=lambda kv: kv[1][1])
    assert band(q_sd) < BAND * sd  # a shift the loudest number takes ...
    assert disagreements(docs, {**means, key: mean + 0.9 * band(sd)}) == []
    assert disagreements(docs, {**means, quiet: q_mean + 0.9 * band(sd)})  # ... fails the quietest
    assert parse_cell("0.392 ± 0.021") == (0.392, 0.021, False) and parse_cell("–") is None
    assert parse_cell("0.15 ± 0.02 (– in 2 of 6 runs)") == (0.15, 0.02, True)
    with pytest.raises(ValueError, match="mean ± s.d."):
        parse_cell("0.392")


def test_the_noise_study_moves_half_the_weights_by_one_ulp_and_reads_the_selected_epoch():
    """``tools.training_noise``: ``ulp:k`` moves a seeded half of every parameter by exactly one unit
    in the last place (k = 0 moves none); the summary reads the held-out score at the epoch of the
    best validation r and at the last epoch, and the spread over the perturbations."""
    import torch

    from tools.training_noise import nudge, spread, summarise

    model = torch.nn.Linear(50, 40)
    before = [p.detach().clone() for p in model.parameters()]
    nudge(model, 0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    nudge(model, 3)
    moved = torch.cat([(p.detach() != a).flatten() for a, p in zip(before, model.parameters())])
    assert 0.4 < moved.float().mean() < 0.6
    w = model.weight.detach()
    assert torch.equal(w[w != before[0]], torch.nextafter(before[0], torch.tensor(float("inf")))[w != before[0]])
    rows = []
    for perturb, best, scores in (("ulp:0", 2, [0.1, 0.5, 0.3]), ("ulp:1", 3, [0.1, 0.2, 0.4])):
        for epoch, score in enumerate(scores, 1):
            val = 1.0 if epoch == best else 0.0
            rows.append(
                dict(
                    variant="v",
                    model="cuca",
                    fold=0,
                    perturb=perturb,
                    epoch=epoch,
                    val_pearson=val,
                    test_pearson_truth=score,
                )
            )
    table = pd.DataFrame(rows)
    summary = summarise(table).set_index("perturb")
    assert summary.loc["ulp:0", "selected"] == 2 and summary.loc["ulp:0", "selected_pearson_truth"] == 0.5
    assert summary.loc["ulp:1", "last_pearson_truth"] == 0.4
    row = spread(table).iloc[0]
    assert row["selected_mean"] == pytest.approx(0.45) and row["selected_std"] == pytest.approx(
        np.std([0.5, 0.4], ddof=1)
    )
