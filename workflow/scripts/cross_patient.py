from stpath import logs
from stpath.crosspatient import cross_patient_figure, cross_patient_table
from stpath.metrics import read_table, write_table

logs.to_file(snakemake.log[0])
summaries = {snakemake.params.run: read_table(snakemake.input.summary)}
summaries |= {label: read_table(path) for label, path in zip(snakemake.params.labels, snakemake.input.compare)}
table = cross_patient_table(summaries, snakemake.params.patient_of)
write_table(table, snakemake.output.table)
cross_patient_figure(
    table, snakemake.output.figure, "Expression models per test patient: within- (hatched) vs cross-patient (solid)"
)
