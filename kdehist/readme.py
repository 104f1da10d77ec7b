"""The README's results block: how the numbers were made, and the tables and sentences
of :mod:`kdehist.report`, written between two markers by ``kdehist readme``.

The block says what the chapters say, from the same json: Table 2, the frontier, which
of their differences survive the Welch interval (:func:`kdehist.study.recheck`), and the
shading study.
"""

from __future__ import annotations

from pathlib import Path

from .io import atomic_write_bytes
from .report import frontier_markdown, recheck_text, table2_markdown
from .runs import read_json
from .study_report import (
    conditioning_text,
    study_findings,
    study_markdown,
    study_path_text,
    sweep_text,
)

__all__ = ["README_END", "README_START", "readme_results", "update_readme"]

README_START, README_END = (
    "<!-- results:start (kdehist readme) -->",
    "<!-- results:end -->",
)


def readme_results(
    table2: dict,
    front: dict | None = None,
    study: dict | None = None,
    rechecked: list[dict] | None = None,
) -> str:
    """The README's results block: how the numbers were made, then Table 2
    (:func:`kdehist.report.table2_markdown`), then (given a ``frontier.json``) the
    frontier's runs (:func:`kdehist.report.frontier_markdown`) and (given
    :func:`kdehist.study.recheck`'s rows) which of the differences survive the Welch
    interval (:func:`kdehist.report.recheck_text`), then (given a ``study.json``) the
    shading study's test table (:func:`kdehist.study_report.study_markdown`) and what it
    found (:func:`kdehist.study_report.study_findings`)."""
    prov = table2["provenance"]
    rows = table2["variants"].values()
    seeds = sorted({len(r["seeds"]) for r in rows})
    minutes = [s / 60 for r in rows for s in r["train_seconds"]]
    plural = "s" if max(seeds) > 1 else ""
    caveat = (
        " (with one seed, an interval covers the test images, not the training)"
        if min(seeds) == 1
        else ""
    )
    test_pairs = prov["test_pairs"].replace(" x ", " × ")
    average = table2["baselines"]["average_tone"]["delta_e76_mean"]
    block = (
        f"Measured with the `cpu` profile ({prov['image_size']}², 500 steps per model, "
        f"float32; {' or '.join(map(str, seeds))} seed{plural} per model; "
        f"{len(minutes)} models of {min(minutes):.0f}–{max(minutes):.0f} min each on a "
        f"2-core {prov['host_cpu']}), mean ΔE76 over {test_pairs} pairs between the "
        f"mean L\\*a\\*b\\* of the generated and the reference foregrounds, and the "
        f"shape score (segmenter IoU against the input's mask), each with a 95 % "
        f"bootstrap interval over test inputs, references and seeds{caveat}:\n\n"
        f"{table2_markdown(table2, study=study)}\n\n"
        f"Our synthetic tones span the whole Monk scale, so even an ideal tone-blind "
        f"translator scores {average:.1f} here: compare ratios with the paper, not "
        f"absolute values (chapter 9)."
    )
    block += "" if front is None else _readme_frontier(front)
    if rechecked:
        block += "\n\n" + recheck_text(rechecked) + " Chapter 10 lists them."
    return block + ("" if study is None else _readme_study(study))


def _readme_study(study: dict) -> str:
    return (
        "\n\nThe shading study (chapter 10): the runs scored on what the paper says is "
        "lost, on the test pairs (relief: the correlation of L\\*'s local relief with "
        "the input's, or the oracle's, inside the leg; spread: the foreground's "
        "standard deviation of L\\* over the oracle's; chapter 9 shows what each "
        "measures). "
        + study_findings(study)
        + "\n\n"
        + study_markdown(study, "test")
        + "\n\n"
        + sweep_text(study)
        + " "
        + conditioning_text(study)
        + " "
        + study_path_text(study)
    )


def _readme_frontier(front: dict) -> str:
    return (
        "\n\nThe shape/colour frontier (chapter 10): proposed (both) with one change "
        "each, same profile, scored the same way; the last columns are the paired "
        "difference from the paper's run (95 % bootstrap intervals over test inputs, "
        "references and seeds):\n\n" + frontier_markdown(front)
    )


def update_readme(
    readme: str | Path, results: str | Path, rechecked: list[dict] | None = None
) -> bool:
    """Rewrite the README's results block from ``results/table2.json`` (and the
    frontier's and the study's json beside it, and ``rechecked``:
    :func:`kdehist.study.recheck` of ``results``); True if it changed."""
    readme = Path(readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(
            f"readme: expected the markers {README_START!r} and {README_END!r} "
            f"in {readme}"
        )
    before, rest = text.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    front, study = Path(results) / "frontier.json", Path(results) / "study.json"
    block = readme_results(
        read_json(Path(results) / "table2.json"),
        read_json(front) if front.is_file() else None,
        read_json(study) if study.is_file() else None,
        rechecked,
    )
    new = f"{before}{README_START}\n{block}\n{README_END}{after}"
    if new != text:
        atomic_write_bytes(readme, new.encode())
    return new != text
