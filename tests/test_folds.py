"""Folds with validation patients and a user's split table: who trains, who selects the model, who
is held out; and model selection on the validation patients' spots."""

import numpy as np
import pandas as pd
import pytest

from stpath.errors import InputError
from stpath.ingest.folds import (
    FoldSettings,
    fold_table,
    plan_folds,
    read_split_table,
    training_samples,
    validation_samples,
)
from stpath.training.checkpoint import fingerprint
from stpath.training.data import SpotSet, split_validation


def sheet(n_patients=5):
    patients = [chr(ord("A") + i) for i in range(n_patients)]
    return pd.DataFrame(
        {"sample": [f"{p}{j}" for p in patients for j in (1, 2)], "patient": [p for p in patients for _ in (1, 2)]}
    )


def test_validation_patients_are_training_patients_drawn_per_fold():
    folds = plan_folds(sheet(), FoldSettings(n_val_patients=2, seed=3))
    assert set(folds.role) == {"train", "val", "test"} and folds.fold.nunique() == 5
    for fold, rows in folds.groupby("fold"):
        by_role = {role: set(rows.loc[rows.role == role, "patient"]) for role in ("train", "val", "test")}
        assert len(by_role["test"]) == 1 and len(by_role["val"]) == 2 and len(by_role["train"]) == 2
        assert not (by_role["val"] & by_role["test"]) and not (by_role["val"] & by_role["train"])
        split = f"fold{fold}"
        assert sorted(validation_samples(folds, split)) == sorted(rows.loc[rows.role == "val", "sample"])
        assert sorted(training_samples(folds, split, [])) == sorted(rows.loc[rows.role != "test", "sample"])
    assert folds.equals(plan_folds(sheet(), FoldSettings(n_val_patients=2, seed=3)))  # seeded
    assert not folds.equals(plan_folds(sheet(), FoldSettings(n_val_patients=2, seed=4)))
    assert validation_samples(folds, "final") == []


def test_too_many_validation_patients_are_refused():
    from stpath.checks import check_folds

    with pytest.raises(ValueError, match="2 validation patient\\(s\\) would leave no training patient"):
        plan_folds(sheet(3), FoldSettings(n_val_patients=2))
    with pytest.raises(
        InputError,
        match=r"samples.tsv: fold 0: 2 validation patient\(s\) would leave no training patient \(the fold trains on 2\)\. Fix: lower folds.n_val_patients",
    ):
        check_folds(sheet(3).set_index("sample", drop=False), FoldSettings(n_val_patients=2), "samples.tsv")
    check_folds(sheet(3).set_index("sample", drop=False), FoldSettings(n_val_patients=1), "samples.tsv")


def test_fold_table_marks_the_folds_in_use_and_keeps_the_other_schemes():
    table = fold_table(sheet(), FoldSettings(n_val_patients=1))
    assert set(table.loc[table.selected, "role"]) == {"train", "val", "test"}
    assert set(table.loc[~table.selected, "scheme"]) == {"leave_one_slide_out"}


def split_file(tmp_path, rows):
    path = tmp_path / "split.tsv"
    pd.DataFrame(rows, columns=["fold", "sample", "role"]).to_csv(path, sep="\t", index=False)
    return path


def test_split_table_is_read_with_patients_from_the_sheet(tmp_path):
    s = sheet(3)
    rows = [(0, x, r) for x, r in zip(s["sample"], ["test", "test", "val", "val", "train", "train"])]
    rows += [(1, x, r) for x, r in zip(s["sample"], ["train", "train", "test", "test", "val", "val"])]
    folds = plan_folds(s, FoldSettings(scheme="table", table=str(split_file(tmp_path, rows))))
    assert list(folds.columns) == ["scheme", "fold", "sample", "patient", "role"] and set(folds.scheme) == {"table"}
    assert validation_samples(folds, "fold1") == ["C1", "C2"] and list(folds.patient[:2]) == ["A", "A"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda rows: rows[:-1], r"fold 0: sample\(s\) \['C2'\] missing"),
        (lambda rows: rows + [(0, "A1", "train")], r"fold 0: sample\(s\) \['A1'\] listed twice"),
        (lambda rows: [(f, s, "train" if r == "test" else r) for f, s, r in rows], "fold 0 has no test slide"),
        (lambda rows: rows[:-1] + [(0, "C2", "holdout")], r"unknown role\(s\) \['holdout'\]"),
        (lambda rows: rows[:-1] + [(0, "Z9", "train")], r"sample\(s\) \['Z9'\] are not labelled slides"),
        (lambda rows: rows[:-1] + [(0, "C2", "Test")], r"unknown role\(s\) \['Test'\].*'Test' -> 'test'"),
        (lambda rows: [(f"fold{f}", s, r) for f, s, r in rows], r"column fold holds \['fold0'\].*fold0 -> 0"),
    ],
)
def test_split_table_mistakes_are_refused(tmp_path, change, message):
    """Through the pre-flight's check (``check_folds``): the table's own message and one fix."""
    from stpath.checks import check_folds

    s = sheet(3)
    rows = [(0, x, r) for x, r in zip(s["sample"], ["test", "test", "train", "train", "train", "train"])]
    path = split_file(tmp_path, change(rows))
    with pytest.raises(InputError, match=message) as err:
        check_folds(s, FoldSettings(scheme="table", table=str(path)), tmp_path / "samples.tsv", tmp_path)
    assert str(err.value).startswith(str(path)) and str(err.value).count("Fix:") == 1


def test_a_split_table_given_under_data_root_is_found_for_the_user(tmp_path, monkeypatch):
    """folds.table is read from the working directory; written relative to data_root (like the
    sheet's paths) the fix gives the path that exists."""
    from stpath.checks import check_folds

    s = sheet(3)
    root = tmp_path / "data"
    (root / "splits").mkdir(parents=True)
    rows = [(0, x, r) for x, r in zip(s["sample"], ["test", "test", "train", "train", "train", "train"])]
    split_file(root / "splits", rows)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="split table not found") as err:
        check_folds(s, FoldSettings(scheme="table", table="splits/split.tsv"), "samples.tsv", root)
    assert (
        f"relative to the working directory ({tmp_path}), not to data_root: set folds.table: {root}/splits/split.tsv"
        in str(err.value)
    )
    assert str(err.value).count("Fix:") == 1


def test_selection_on_validation_patients_spots():
    sample_of = np.array(["A1"] * 4 + ["B1"] * 3 + ["C1"] * 5, dtype=object)
    train, val = split_validation(sample_of, 0.2, 0, val_samples=("C1",))
    assert list(val) == list(range(7, 12)) and list(train) == list(range(7))
    train_in_slide, val_in_slide = split_validation(sample_of, 0.2, 0)
    assert len(val_in_slide) == 3 and set(sample_of[val_in_slide]) == {"A1", "B1", "C1"}  # one spot per slide
    with pytest.raises(ValueError, match="must be some, not none or all"):
        split_validation(sample_of, 0.2, 0, val_samples=("Z1",))


def test_resume_fingerprint_depends_on_the_validation_slides():
    import torch

    data = SpotSet(
        torch.zeros(3, 4, 4, 3, dtype=torch.uint8),
        torch.zeros(3, 2),
        np.array(["A", "B", "C"], dtype=object),
        np.array(["a", "b", "c"]),
        ["G1", "G2"],
    )
    assert fingerprint("direct", {"x": 1}, data) == fingerprint("direct", {"x": 1}, data, ())
    assert fingerprint("direct", {"x": 1}, data, ("C",)) != fingerprint("direct", {"x": 1}, data, ("B",))


def test_every_result_row_states_within_or_cross_patient():
    from stpath.ingest.folds import patient_split, protocol_of
    from stpath.metrics import label_patients, patients_phrase

    rows = [  # fold 0: slide A2 held out while A1 trains (within); fold 1: patient B held out whole
        (0, "A1", "A", "train"),
        (0, "A2", "A", "test"),
        (0, "B1", "B", "train"),
        (0, "B2", "B", "train"),
        (0, "C1", "C", "val"),
        (1, "A1", "A", "train"),
        (1, "A2", "A", "train"),
        (1, "B1", "B", "test"),
        (1, "B2", "B", "test"),
        (1, "C1", "C", "val"),
        (2, "A1", "A", "train"),
        (2, "A2", "A", "train"),
        (2, "B1", "B", "train"),
        (2, "B2", "B", "test"),
        (2, "C1", "C", "test"),
    ]  # fold 2: B2 within (B1 trains), C1 cross
    folds = pd.DataFrame(rows, columns=["fold", "sample", "patient", "role"])
    assert (
        patient_split(folds, 0, ["A2"]) == "within-patient" and patient_split(folds, 1, ["B1", "B2"]) == "cross-patient"
    )
    assert (
        patient_split(folds, 2, ["C1"]) == "cross-patient" and patient_split(folds, 2, ["B2", "C1"]) == "within-patient"
    )
    selected_on_its_patient = pd.DataFrame(
        [(0, "A1", "A", "val"), (0, "A2", "A", "test"), (0, "B1", "B", "train")], columns=folds.columns
    )
    assert patient_split(selected_on_its_patient, 0, ["A2"]) == "within-patient"  # model selection saw patient A
    assert "cross-patient (its patient is not in training)" in protocol_of("fold2", "C1", folds)
    summary = pd.DataFrame(
        {
            "model": "m",
            "protocol": ["per_slide", "per_slide", "pooled", "per_slide", "pooled"],
            "fold": [0, 1, 1, 2, 2],
            "test_sample": ["A2", "B1", "all", "C1", "all"],
        }
    )
    labelled = label_patients(summary, folds)
    assert list(labelled.columns) == ["model", "protocol", "patients", "fold", "test_sample"]
    assert list(labelled["patients"]) == [
        "within-patient",
        "cross-patient",
        "cross-patient",
        "cross-patient",
        "within-patient",
    ]
    assert patients_phrase(labelled) == "cross-patient and within-patient test slides"
    assert patients_phrase(labelled[labelled["fold"] == 1]) == "cross-patient test slides"


def test_her2st_full_uses_the_released_cuca_folds_exactly():
    """config/her2st_full.yaml's split table reproduces the released split files line by line
    (lyotvincent/CUCA d0a3d81, cross_val_splits/her2st/; some lack a final newline)."""
    import yaml

    from conftest import REPO, shared

    released = shared("her2st", "cuca_released_splits")
    config = yaml.safe_load((REPO / "config" / "her2st_full.yaml").read_text())
    assert config["folds"] == {"scheme": "table", "table": "config/splits/her2st_cuca_released.tsv"}
    full_sheet = pd.read_csv(REPO / config["samples"], sep="\t", dtype=str, keep_default_na=False)
    folds = read_split_table(REPO / config["folds"]["table"], full_sheet)
    for fold in range(4):
        for role in ("train", "val", "test"):
            lines = [
                line.strip() for line in (released / f"{role}_fold_{fold}.txt").read_text().splitlines() if line.strip()
            ]
            rows = folds[(folds.fold == fold) & (folds.role == role)]
            assert list(rows["sample"]) == lines, (fold, role)
        assert folds[folds.fold == fold].groupby("patient").role.nunique().eq(1).all()  # whole patients
        assert set(folds[folds.fold == fold]["sample"]) == set(full_sheet["sample"])


def test_each_branch_selects_as_its_release():
    """CMRCNet (released): every training slide trains, the validation patients' too, and the model
    is selected on an in-slide split; CUCA (released): selected on the validation patients."""
    import yaml

    from stpath.ingest.folds import IN_SLIDE, VALIDATION_PATIENTS

    from conftest import REPO

    folds = plan_folds(sheet(), FoldSettings(n_val_patients=2, seed=3))
    val = sorted(folds.loc[(folds.fold == 0) & (folds.role == "val"), "sample"])
    assert len(val) == 4 and sorted(validation_samples(folds, "fold0", VALIDATION_PATIENTS)) == val
    assert (
        validation_samples(folds, "fold0", IN_SLIDE) == []
        and validation_samples(folds, "final", VALIDATION_PATIENTS) == []
    )
    assert set(val) <= set(training_samples(folds, "fold0", []))  # loaded for training: used as such in-slide
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())["properties"]
    default = {
        b: schema[b]["properties"]["train"]["properties"]["selection"]["default"]
        for b in ("expression_models", "cell_type_models")
    }
    assert default == {"expression_models": IN_SLIDE, "cell_type_models": VALIDATION_PATIENTS}
