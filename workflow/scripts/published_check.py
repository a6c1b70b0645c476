import logging

import anndata as ad

from stpath import logs
from stpath.atomic import atomic_path
from stpath.deconvolution import figures, published
from stpath.deconvolution.output import proportions, read_results
from stpath.deconvolution.signatures import read_signature_table
from stpath.ingest.ingested import read_sample_info
from stpath.manifest import job_files
from stpath.plots import SpotView
from stpath.wsi.tiles import read_thumbnail

logs.to_file(snakemake.log[0])
files = job_files(snakemake)  # the section files come through an index
log = logging.getLogger("stpath.published_check")
params = snakemake.params
settings = published.PublishedSettings.from_config(params.published)
samples = list(params.samples)
results = read_results(files["adata"])
signatures = read_signature_table(snakemake.input.signatures)
obs = ad.read_h5ad(snakemake.input.reference[0], backed="r").obs if snakemake.input.reference else None
spot_ids = {s: published.section_rows(results.sample_of, results.sample_of, s).index for s in samples}

tables, to_tier = {}, {}
for name, tier in settings.tiers.items():
    paths = dict(zip(samples, snakemake.input[f"tier_{name}"]))
    labels = obs[tier.label_column or params.label_column].astype(str).unique() if obs is not None else None
    checked = published.check_published(tier, paths, spot_ids, params.min_matched, labels)
    try:
        to_tier[name] = published.tier_of_types(obs, params.label_column, tier)
    except published.CoarserTypes as exc:
        log.warning("tier %s is not compared: %s", name, exc)
        continue
    tables[name] = checked
    log.info(
        "tier %s: this run's types -> the table's: %s",
        name,
        {t: tier.label_map.get(to_tier[name].get(t, t), to_tier[name].get(t, t)) for t in signatures.columns},
    )

method = f"cell2location_{settings.estimate}"
ours = proportions(results.estimates[settings.estimate])
nnls = published.nnls_proportions(results.counts, signatures)
compared = {name: settings.tier(name) for name in tables}
check = published.external_check(ours, nnls, results.sample_of, tables, compared, to_tier, method)
log.info("mean Pearson r over types:\n%s", published.check_summary(check).round(3).to_string())
with atomic_path(snakemake.output.table) as tmp:
    check.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
with atomic_path(snakemake.output.heatmap) as tmp:
    figures.check_heatmaps(
        check,
        tmp,
        f"This run's deconvolution vs the published proportions, per type and section ({method}; floor: {published.NNLS})",
    )

# the maps: one section and tier, the most abundant published types, published vs each method
sample, name = params.map_sample, params.map_tier if params.map_tier in tables else next(iter(tables))
tier, table = settings.tier(name), tables[name][sample]
spots = table.index.intersection(spot_ids[sample])
panels = {"published": table.loc[spots]}
for m, frame in ((method, ours), (published.NNLS, nnls)):
    panels[m] = published.aggregate(
        published.section_rows(frame, results.sample_of, sample), to_tier[name], tier.label_map
    ).loc[spots]
types = [t for t in table.mean().sort_values(ascending=False).index if t in panels[method].columns][
    : settings.map_types
]
adata = ad.read_h5ad(files["adata"][samples.index(sample)])
xy = adata[list(spots)].obsm["spatial"]
thumbnail, downsample = None, 1.0
if snakemake.input.tiles:
    thumb = read_thumbnail(snakemake.input.tiles)
    thumbnail, downsample = thumb.image, thumb.downsample
view = SpotView.of(xy, read_sample_info(adata).physical_spot_px, thumbnail, downsample, 2.9 * 100)
rows = check[(check["tier"] == name) & (check["section"] == sample)].set_index(["method", "type"])["pearson"]
with atomic_path(snakemake.output.maps) as tmp:
    figures.comparison_maps(
        panels,
        types,
        view,
        tmp,
        f"{sample}, {name} tier: published proportions vs this run's deconvolution (r: Pearson across the section's spots)",
        {(m, t): rows.get((m, t), float("nan")) for m in panels if m != "published" for t in types},
    )
