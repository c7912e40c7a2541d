"""A study's report: a rich table, a markdown summary and PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ._study import StudyResult

__all__ = ["table", "write_report"]


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}f}"


def _snr(v: float | None) -> str:
    return "-" if v is None else ("exact" if math.isinf(v) and v > 0 else _fmt(v, 1))


def _cells(result: StudyResult, row) -> list[str]:
    cells = [row.config, _fmt(row.accuracy), _fmt(row.loss)]
    for layer in result.layers:
        cells.append(f"{_snr(row.snr_db.get(layer))} / {_fmt(row.max_rel_error.get(layer), 4)}"
                     if layer in row.snr_db else "-")
    cells.append(f"{row.seconds:.1f}")
    return cells


def _header(result: StudyResult) -> list[str]:
    return (["config", "accuracy", "loss"] + [f"{layer} SNR dB / max rel err" for layer in result.layers] + ["s"])


def table(result: StudyResult):
    """The study as a :class:`rich.table.Table`."""
    from rich.table import Table

    t = Table(title=f"lpemu study: {result.model} ({result.settings.get('samples', '?')} test inputs)")
    for i, h in enumerate(_header(result)):
        t.add_column(h, justify="left" if i == 0 else "right")
    for row in result.rows:
        t.add_row(*_cells(result, row))
    return t


def _markdown(result: StudyResult) -> str:
    head = _header(result)
    lines = [f"# lpemu study: {result.model}", "",
             "Each configuration runs the model on the same test inputs; layer errors are against the "
             "float32 reference (SNR in dB, and max |x - ref| / max |ref|).", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in result.rows:
        lines.append("| " + " | ".join(_cells(result, row)) + " |")
    lines += ["", "## Configurations", ""]
    for row in result.rows:
        note = f" ({row.note})" if row.note else ""
        lines.append(f"* `{row.config}`: {row.description}{note}")
    lines += ["", "## Settings", "", "```json", json.dumps(result.settings, indent=2, default=str), "```",
              "", "![accuracy](accuracy.png)", "", "![per-layer SNR](layer_snr.png)", ""]
    return "\n".join(lines)


def write_report(result: StudyResult, out_dir: str | Path) -> Path:
    """Write report.md, results.json, accuracy.png and layer_snr.png into ``out_dir``.

    Returns:
        The path of report.md.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result.to_dict(), indent=2))
    rows = [r for r in result.rows if r.accuracy is not None]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar([r.config for r in rows], [r.accuracy for r in rows], color="tab:blue")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.model}: accuracy per configuration")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for r in result.rows[1:]:
        if r.snr_db:
            ys = [min(r.snr_db.get(layer, math.nan), 150.0) for layer in result.layers]
            ax.plot(list(result.layers), ys, marker="o", label=r.config)
    ax.set_ylabel("SNR vs float32 (dB, capped at 150)")
    ax.set_title(f"{result.model}: per-layer error")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "layer_snr.png", dpi=100)
    plt.close(fig)
    path = out / "report.md"
    path.write_text(_markdown(result))
    return path
