"""Every Markdown table and English sentence that the README and the chapters show.

The numbers come from the results json (``table2.json``, ``frontier.json``); nothing
here trains, scores or reads a run folder. Each function takes the parsed json and
returns a string, so a chapter shows ``display(Markdown(...))`` or glues the sentence,
and the README's results block is rewritten from the same functions
(:func:`kdehist.readme.update_readme`).

>>> listing(["a", "b", "c"])
'a, b and c'
"""

from __future__ import annotations


from .color import jis_class
from .experiments import EXPERIMENTS, label
from .stats import interval

__all__ = [
    "attempts_text",
    "duration",
    "frontier_markdown",
    "listing",
    "path_falls_text",
    "path_text",
    "path_verdict",
    "recheck_markdown",
    "recheck_text",
    "seeds_alone",
    "sweep_text",
    "table2_markdown",
    "table2_verdict",
    "validity_markdown",
    "versus_text",
]


def duration(seconds: float) -> str:
    """A duration in words a reader can plan with.

    >>> duration(42), duration(600), duration(7300)
    ('42 s', '10 min', '2 h 02 min')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def listing(items) -> str:
    """Items in prose: ``a``, ``a and b``, ``a, b and c``.

    >>> listing([0, 1, 2]), listing(["hist_lambda3"])
    ('0, 1 and 2', 'hist_lambda3')
    """
    words = [str(item) for item in items]
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _row_interval(row: dict, key: str, digits: int) -> str:
    return interval(row[f"{key}_mean"], row[f"{key}_ci95"], digits)


def table2_markdown(
    table2: dict, detailed: bool = False, study: dict | None = None
) -> str:
    """Table 2 as a Markdown table: per run the seeds, ΔE76 with its 95 % interval and
    JIS class, the shape score with its interval and the paper's ΔE; ``detailed`` adds
    ΔE2000, SSIM and edge F1. Given a ``study.json``, each attempt that meets the
    study's goal on the test pairs (:func:`kdehist.study.goal`) adds a row, its label
    marked † (trained for the study, on the study's host). The oracle and the
    tone-blind average close the table."""
    head = ["model", "seeds", "ΔE76 mean [95 % CI]", "JIS class"]
    head += ["ΔE2000 [95 % CI]"] if detailed else []
    head += (
        ["shape score [95 % CI]"]
        + (["SSIM", "edge F1"] if detailed else [])
        + ["paper's ΔE"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    variants = dict(table2["variants"])
    # The registry's order (the paper's first), then any run it does not have.
    order = [n for n in EXPERIMENTS if n in variants]
    order += sorted(set(variants) - set(EXPERIMENTS))
    extra = {
        verdict["run"]: study["splits"]["test"][verdict["run"]]
        for verdict in (study or {}).get("goal", {}).values()
        if verdict["met"]
    }
    for name in order + list(extra):
        row = variants[name] if name in variants else extra[name]
        cells = [
            label(name) + (" †" if name in extra else ""),
            str(len(row["seeds"])),
            _row_interval(row, "delta_e76", 2),
            jis_class(row["delta_e76_mean"]),
        ]
        if detailed:
            cells += [
                _row_interval(row, "delta_e00", 2) if "delta_e00_mean" in row else "–"
            ]
        cells += [_row_interval(row, "shape_score", 3)]
        cells += (
            [f"{row['ssim_mean']:.3f}", f"{row['edge_f1_mean']:.3f}"]
            if detailed
            else []
        )
        cells += [
            "–" if row.get("paper_delta_e") is None else f"{row['paper_delta_e']}"
        ]
        lines.append("| " + " | ".join(cells) + " |")
    oracle, average = table2["baselines"]["oracle"], table2["baselines"]["average_tone"]
    cells = [
        "*oracle (ideal translation)*",
        "–",
        f"{oracle['delta_e76_mean']:.2f}",
        jis_class(oracle["delta_e76_mean"]),
    ]
    cells += [f"{oracle['delta_e00_mean']:.2f}"] if detailed else []
    cells += [f"{oracle['shape_score_mean']:.3f}"]
    cells += (
        [f"{oracle['ssim_mean']:.3f}", f"{oracle['edge_f1_mean']:.3f}"]
        if detailed
        else []
    )
    lines.append("| " + " | ".join(cells + ["–"]) + " |")
    cells = [
        "*average tone (tone-blind ideal)*",
        "–",
        f"{average['delta_e76_mean']:.2f}",
        jis_class(average["delta_e76_mean"]),
    ]
    cells += ["–"] * (len(head) - len(cells))
    lines.append("| " + " | ".join(cells) + " |")
    if extra:
        host = study["provenance"].get("host_cpu", "another host")
        lines.append(
            f"\n† Trained for the shading study on the {host} and scored there on the "
            "same test pairs. It meets the study's goal against both of the paper's "
            "variants retrained on that host (chapter 10); the rows above come from "
            "another host, so compare it with them only loosely."
        )
    return "\n".join(lines)


def frontier_markdown(
    front: dict, baselines: bool = False, differences: bool = True
) -> str:
    """The frontier's scored runs as a Markdown table (the README's and chapter 10's):
    per run its λ_hist, steps, seeds, ΔE76 and shape score with 95 % intervals and JIS
    class; ``differences`` adds the paired difference from the paper's
    ``proposed_both``, ``baselines`` Table 2's variants. The runs not trained
    follow the table."""

    def cells(name: str, row: dict, settings: dict | None) -> list[str]:
        versus = row.get("versus_paper")
        out = [
            name,
            f"{settings['lambda_hist']:g}" if settings else "–",
            str(settings["steps"]) if settings else "–",
            str(len(row["seeds"])),
            interval(row["delta_e76_mean"], row["delta_e76_ci95"], 2),
            row["jis_class"],
            interval(row["shape_score_mean"], row["shape_score_ci95"], 3),
        ]
        for key, digits in (
            (("delta_e76", 2), ("shape_score", 3)) if differences else ()
        ):
            out.append(
                interval(versus[key]["difference"], versus[key]["ci95"], digits, True)
                if versus
                else "–"
            )
        return out

    head = ["run", "λ_hist", "steps", "seeds", "ΔE76 [95 % CI]", "JIS class"]
    head += ["shape score [95 % CI]"]
    head += ["ΔE76 − paper's", "shape − paper's"] if differences else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in front["runs"]:
        lines.append(
            "| " + " | ".join(cells(label(row["name"]), row, row["settings"])) + " |"
        )
    shown = {row["name"] for row in front["runs"]}
    for name, row in front["baselines"].items() if baselines else ():
        if name not in shown:  # Table 2's own run is the sweep's λ_hist = 10
            text = f"{label(name)} (Table 2)"
            lines.append("| " + " | ".join(cells(text, row, None)) + " |")
    table = "\n".join(lines)
    if front["missing"]:
        table += f"\n\nNot trained: {listing(front['missing'])}."
    return table


def seeds_alone(row: dict) -> str:
    """Each seed's means of a scored run (a ``frontier.json`` row), in words.

    >>> seeds_alone({"seeds": [0, 1], "delta_e76_seed_means": [2.65, 3.43],
    ...              "shape_score_seed_means": [0.954, 0.858]})
    'seed 0: ΔE76 2.65, shape 0.954; seed 1: ΔE76 3.43, shape 0.858.'
    """
    return (
        "; ".join(
            f"seed {seed}: ΔE76 {de:.2f}, shape {shape:.3f}"
            for seed, de, shape in zip(
                row["seeds"], row["delta_e76_seed_means"], row["shape_score_seed_means"]
            )
        )
        + "."
    )


def versus_text(differences: dict) -> str:
    """One run minus another per metric, paired over the same test pairs, in words.

    >>> versus_text({"delta_e76": {"difference": -0.3, "ci95": [-0.9, 0.2],
    ...                            "resolved": False}})
    'ΔE76 -0.30 [-0.90, +0.20] (not resolved)'
    """
    parts = []
    for key, what, digits in (("delta_e76", "ΔE76", 2), ("shape_score", "shape", 3)):
        if key in differences:
            change = differences[key]
            parts.append(
                f"{what} {interval(change['difference'], change['ci95'], digits, True)}"
                + (" (resolved)" if change["resolved"] else " (not resolved)")
            )
    return " and ".join(parts)


def table2_verdict(table2: dict, a: str, b: str, metric: str) -> str:
    """Table 2's paired comparison of run ``a`` against ``b`` on ``metric`` (from
    ``table2.json``'s ``comparisons``), with what it lets a reader conclude."""
    found = [
        c
        for c in table2["comparisons"]
        if (c["a"], c["b"], c["metric"]) == (a, b, metric)
    ]
    if not found:
        return "not measured"
    change, digits = found[0], 2 if metric.startswith("delta_e") else 3
    text = interval(change["difference"], change["ci95"], digits, sign=True)
    if not change["resolved"]:
        return text + ": the interval contains zero, so the runs cannot tell them apart"
    better = (change["difference"] < 0) == metric.startswith("delta_e")
    return text + f": {label(a)} is {'better' if better else 'worse'} on these pairs"


def _sweep(front: dict) -> list[tuple[float, dict]]:
    rows = [row for row in front["runs"] if row["attempt"] == "lambda_sweep"]
    return sorted((row["settings"]["lambda_hist"], row) for row in rows)


def sweep_text(front: dict, ends: dict | None = None) -> str:
    """The λ_hist sweep in two short sentences: how many weights differ from the
    paper's (λ_hist = 10) by the bootstrap (the frontier table's last columns give each
    difference), then, given ``ends`` (:func:`kdehist.frontier.compare_runs` of the
    largest weight against the smallest), the contrast the sweep's design implies."""
    sweep = _sweep(front)
    if len(sweep) < 2:
        return "The sweep has fewer than two scored weights."
    compared = [(lam, row["versus_paper"]) for lam, row in sweep if row["versus_paper"]]
    moved = [
        f"λ_hist {lam:g} ({MEASURE_NAMES[key]})"
        for lam, versus in compared
        for key in ("delta_e76", "shape_score")
        if versus[key]["resolved"]
    ]
    text = (
        "Against the paper's weight, λ_hist 10, "
        + (
            "the bootstrap resolves " + listing(moved)
            if moved
            else f"none of the other {len(compared)} weights differs resolvably"
        )
        + " (the table's last two columns)."
    )
    if ends is not None:
        (low, _), (high, _) = sweep[0], sweep[-1]
        text += (
            f" The sweep's two ends, λ_hist {high:g} against {low:g}: "
            f"{versus_text(ends)}."
        )
    return text


def attempts_text(front: dict, names=("own_foreground_hist", "luminance_structure")):
    """Each attempt to move the front against the paper's run, with its seeds."""
    rows = {row["name"]: row for row in front["runs"]}
    texts = []
    for name in names:
        if name not in rows:
            texts.append(f"{label(name)} is not trained.")
            continue
        row = rows[name]
        name_text = label(name)[0].upper() + label(name)[1:]
        texts.append(
            f"{name_text} ({len(row['seeds'])} seeds) against the paper's run: "
            f"{versus_text(row['versus_paper'])}. Seed by seed: {seeds_alone(row)}"
        )
    return " ".join(texts)


def path_text(front: dict) -> str:
    """The training path's changes from each start to its end, and what they say about
    the paper's claim (colour improves while shape is lost)."""
    changes = front.get("path_changes", [])
    if not changes:
        return "The training path is not trained."
    texts, claim = [], None
    for start in dict.fromkeys(c["from_step"] for c in changes):
        pair = {c["metric"]: c for c in changes if c["from_step"] == start}
        de, shape = pair["delta_e76"], pair["shape_score"]
        texts.append(f"From step {start} to step {de['to_step']}: {versus_text(pair)}.")
        claim = (
            start,
            de["resolved"] and de["difference"] < 0,
            shape["resolved"] and shape["difference"] < 0,
        )
    verdict = path_verdict(*claim, "shape")
    seeds = len(front["path"][0]["seeds"])
    return (
        " ".join(texts)
        + f" On the mean over {seeds} seeds, {verdict[0].lower()}{verdict[1:]}"
    )


def path_verdict(start: int, colour_rises: bool, falls: bool, what: str) -> str:
    """The paper's claim along a training path after ``start``, in one sentence:
    whether colour improves and whether ``what`` (shape, relief) is lost."""
    if colour_rises and falls:
        return f"After step {start}, colour improves while {what} is lost."
    if falls:
        return f"After step {start}, {what} is lost and colour does not improve."
    if colour_rises:
        return f"After step {start}, colour improves and no loss of {what} resolves."
    return f"After step {start}, neither colour nor {what} changes resolvably."


def path_falls_text(front: dict) -> str:
    """Each seed's largest fall of the shape score along the training path, with ΔE76's
    change over the same steps; picked after looking, which the text says."""
    texts = []
    for fall in front.get("path_falls", []):
        shape, de = fall["shape_score"], fall["delta_e76"]
        texts.append(
            f"Seed {fall['seed']} falls furthest from step {fall['from_step']} to "
            f"{fall['to_step']}: shape {shape['from']:.3f} → {shape['to']:.3f}, "
            f"ΔE76 {de['from']:.2f} → {de['to']:.2f} "
            f"({versus_text({'shape_score': shape, 'delta_e76': de})})."
        )
    if not texts:
        return "No path is scored."
    return " ".join(texts) + (
        " Each fall was picked after looking at every pair of checkpoints, so its "
        "interval flatters it."
    )


#: How the validity table and the study name their measures.
MEASURE_NAMES = {
    "shading_score": "relief",
    "relief_input": "relief vs input",
    "relief_oracle": "relief vs oracle",
    "kneecap_score": "kneecap relief",
    "kneecap_input": "kneecap vs input",
    "relief_ratio": "relief depth",
    "spread_l": "spread L*",
    "spread_a": "spread a*",
    "spread_b": "spread b*",
    "delta_e76": "ΔE76",
    "shape": "shape score",
    "shape_score": "shape score",
    "ssim": "SSIM",
    "edge_f1": "edge F1",
}


def validity_markdown(table: dict, claims: dict, tolerance: float = 0.05) -> str:
    """A :func:`kdehist.shading.validity_table` as Markdown: one row per corruption,
    one column per measure, each cell the mean change; a cell that the measure claims
    to ignore (``claims``, :data:`kdehist.shading.CLAIMS`) is marked *ignores* when it
    moves by at most ``tolerance``, **breaks its claim** otherwise."""
    corruptions = list(table)
    measures = list(next(iter(table.values())))
    head = ["corruption"] + [MEASURE_NAMES.get(m, m) for m in measures]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for corruption in corruptions:
        cells = [corruption.replace("_", " ")]
        for measure in measures:
            change = table[corruption][measure]
            cell = f"{change:+.3f}"
            if corruption in claims.get(measure, ()):
                cell += " *ignores*" if abs(change) <= tolerance else " **breaks**"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _difference_name(row: dict) -> str:
    if "steps" in row:
        return f"{label(row['a'])}, step {row['steps'][1]} − step {row['steps'][0]}"
    return f"{label(row['a'])} − {label(row['b'])}"


def recheck_markdown(rows: list[dict]) -> str:
    """The differences that the bootstrap alone resolved (:func:`kdehist.study.recheck`)
    as a Markdown table: each with its bootstrap and its Welch interval, and whether it
    survives (both exclude zero)."""
    lines = [
        "| difference | measure | bootstrap | Welch (t for a path) | survives |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if not row["bootstrap_resolved"]:
            continue
        digits = 2 if row["metric"].startswith("delta_e") else 3
        welch = row["welch_ci95"]
        lines.append(
            f"| {_difference_name(row)} | "
            f"{MEASURE_NAMES.get(row['metric'], row['metric'])} | "
            f"{interval(row['difference'], row['ci95'], digits, True)} | "
            + (
                "–"
                if welch[0] is None
                else interval(row["difference"], welch, digits, True)
            )
            + f" | {'yes' if row['resolved'] else '**no**'} |"
        )
    return "\n".join(lines)


def recheck_text(rows: list[dict]) -> str:
    """How many bootstrap-resolved differences survive the Welch interval, in one short
    sentence (:func:`recheck_markdown` lists them)."""
    resolved = [row for row in rows if row["bootstrap_resolved"]]
    kept = sum(row["resolved"] for row in resolved)
    return (
        f"Of the {len(rows)} differences that Table 2 and the frontier compare, the "
        f"bootstrap alone resolves {len(resolved)}, and {kept} of them survive the "
        "Welch interval over seed means (for the training path, a t-interval of its "
        "per-seed changes)."
    )
