"""The sample sheet: read and check it, one ``Sample`` per row with its paths resolved, and the
input files each sample's ingest reads."""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..errors import InputError


@dataclass(frozen=True)
class Sample:
    sample: str
    patient: str
    slide: Path | None
    expression: Path | None  # None for an image-only sample (format "image")
    format: str
    spots: Path | None = None
    um_per_px: float | None = None


COLUMNS = ("sample", "patient", "slide", "expression", "spots", "format", "um_per_px")
REQUIRED = ("sample", "patient", "slide", "expression", "format")
IMAGE_ONLY = "image"  # the format of a slide without spatial data: predicted, never trained on


def read_text(path: Path) -> str:
    """A text file as a spreadsheet may save it: UTF-8 (with or without a byte-order mark), or
    UTF-16 with its mark (Excel's "Unicode Text"). Any other encoding is refused with the line
    and the fix, rather than guessed: a guess may turn a patient id into another."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        shown = data.splitlines()[line - 1].decode("utf-8", errors="replace")
        raise InputError(
            path,
            f"line {line} is not UTF-8 text (byte {data[exc.start]:#04x} in {shown.strip()!r}); the file was saved in "
            "another encoding, e.g. Windows-1252 by a spreadsheet",
            "save it as UTF-8 (Excel: Save As 'CSV UTF-8' or 'Unicode Text'; LibreOffice: character set "
            "Unicode (UTF-8)), with tabs between the columns",
        ) from None


def read_sheet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "sample sheet not found", "set 'samples' in the config to an existing TSV file")
    # only whole lines starting with '#' are comments: a '#' inside a file name is part of it
    lines = [line for line in read_text(path).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(
            path,
            "the sample sheet is empty",
            f"write a tab-separated header line {list(REQUIRED)}, then one row per slide",
        )
    sheet = pd.read_csv(io.StringIO("\n".join(lines)), sep="\t", dtype=str, keep_default_na=False)
    # spaces around a cell (a spreadsheet's trailing space after a path) are never part of it
    sheet.columns = sheet.columns.str.strip()
    sheet = sheet.apply(lambda column: column.str.strip())
    unknown = [c for c in sheet.columns if c not in COLUMNS]
    if unknown:
        raise InputError(path, f"unknown column(s) {unknown}", f"use only the tab-separated columns {list(COLUMNS)}")
    missing = [c for c in REQUIRED if c not in sheet.columns]
    if missing:
        raise InputError(
            path,
            f"missing column(s) {missing}; the header has {list(sheet.columns)}",
            f"add the column(s) {missing} (tab-separated; required: {list(REQUIRED)})",
        )
    for col in ("spots", "um_per_px"):
        if col not in sheet:
            sheet[col] = ""
    dup = sheet["sample"][sheet["sample"].duplicated()].tolist()
    if dup:
        raise InputError(path, f"duplicate sample id(s) {dup}", "give every row a unique 'sample'")
    if sheet.empty:
        raise InputError(path, "the sample sheet has no rows", "add one row per slide")
    for row in sheet.itertuples():
        if row.um_per_px:
            try:
                value = float(row.um_per_px)
            except ValueError:
                value = -1.0
            if not value > 0:
                raise InputError(
                    path,
                    f"sample {row.sample}: um_per_px {row.um_per_px!r} is not a positive number",
                    "write the pixel size in um/px, e.g. 0.5, or leave it empty",
                )
        if row.format == IMAGE_ONLY:
            _check_image_only(row, path)
        elif not row.expression:
            raise InputError(
                path,
                f"sample {row.sample}: format {row.format} needs its 'expression' file or folder",
                f"fill the 'expression' column, or set format to {IMAGE_ONLY!r} for a slide without spatial data",
            )
        if row.format in ("legacy_st", "counts_table") and not row.spots:
            raise InputError(
                path,
                f"sample {row.sample}: {row.format} needs a 'spots' file (spot coordinates)",
                "fill the 'spots' column",
            )
    return sheet.set_index("sample", drop=False)


def write_sheet(sheet: pd.DataFrame, path: str | Path, header: str) -> bool:
    """Write a generated sample sheet (``header`` as its first, comment line) unless ``path`` holds
    exactly it already, so that its time stamp moves only when its content does; True when
    written. A file there whose first line is not this generator's (``header`` up to its colon) is
    the user's and is never overwritten."""
    path = Path(path)
    text = f"# {header}\n" + sheet[list(COLUMNS)].to_csv(sep="\t", index=False)
    if path.exists():
        old = path.read_text()
        if old == text:
            return False
        if not old.startswith(f"# {header.split(':')[0]}"):
            raise InputError(
                path,
                f"a sample sheet is already there, not written by the generator ({header.split(':')[0]!r})",
                "point 'samples' at a new file for the generated sheet, or drop the generator's keys to use this one",
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return True


def _check_image_only(row, path: Path) -> None:
    if not row.slide:
        raise InputError(
            path,
            f"sample {row.sample}: format {IMAGE_ONLY!r} needs a 'slide' (it is a slide without spatial data)",
            "fill the 'slide' column, or drop the row",
        )
    given = [c for c in ("expression", "spots") if getattr(row, c)]
    if given:
        raise InputError(
            path,
            f"sample {row.sample}: format {IMAGE_ONLY!r} has no spatial data, but its {' and '.join(repr(c) for c in given)} column is filled",
            "empty the column(s) to predict on the slide alone, or set 'format' to the spatial data's format (visium, legacy_st, hest, counts_table)",
        )


def to_sample(row: pd.Series, data_root: str | Path) -> Sample:
    root = Path(data_root)
    return Sample(
        sample=row["sample"],
        patient=row["patient"],
        slide=root / row["slide"] if row["slide"] else None,
        expression=root / row["expression"] if row["expression"] else None,
        format=row["format"],
        spots=root / row["spots"] if row["spots"] else None,
        um_per_px=float(row["um_per_px"]) if row["um_per_px"] else None,
    )


def input_files(sample: Sample) -> list[Path]:
    """Every file the ingest step reads for this sample."""
    files = [sample.slide] if sample.slide else []
    if sample.expression is None:
        return files
    if sample.format == "visium":
        spatial = sample.expression / "spatial"
        positions = spatial / "tissue_positions.csv"
        if not positions.exists() and (spatial / "tissue_positions_list.csv").exists():
            positions = spatial / "tissue_positions_list.csv"
        files += [sample.expression / "filtered_feature_bc_matrix.h5", positions, spatial / "scalefactors_json.json"]
    else:
        files.append(sample.expression)
    if sample.spots:
        files.append(sample.spots)
    return files


def check_inputs_exist(samples: list[Sample], sheet_path: str | Path, will_be_made) -> None:
    """Every input must exist or be produced by the workflow (demo generator, download rule)."""
    for s in samples:
        for f in input_files(s):
            if not f.exists() and not will_be_made(f):
                raise InputError(
                    f,
                    f"input of sample {s.sample} does not exist",
                    f"correct the path in {sheet_path} (paths are relative to data_root), set data_root in the "
                    "config, or list the file's URL under 'downloads'",
                )
