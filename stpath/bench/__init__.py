"""Benchmarks (run with ``python -m stpath.bench.<name>``; figures go to the README)."""


def show(table, out=None) -> None:
    """Print a benchmark's table, and write it as TSV to ``out`` when given."""
    print(table.to_string(index=False))
    if out:
        table.to_csv(out, sep="\t", index=False)
