"""Benchmarks (run with ``python -m tools.bench.<name>``; figures go to docs/development.md, dated runs to CHANGELOG.md)."""


def show(table, out=None) -> None:
    """Print a benchmark's table, and write it as TSV to ``out`` when given."""
    print(table.to_string(index=False))
    if out:
        table.to_csv(out, sep="\t", index=False)
