"""The shading study in tables and sentences: what chapter 10 and the README show of a
``study.json`` (:func:`kdehist.study.study`).

Like :mod:`kdehist.report`, nothing here trains, scores or reads a run folder: each
function takes the parsed json and returns Markdown or a sentence.
"""

from __future__ import annotations

from .experiments import EXPERIMENTS, label
from .report import MEASURE_NAMES, path_verdict, listing
from .stats import interval

__all__ = [
    "conditioning_text",
    "choice_markdown",
    "choice_text",
    "goal_text",
    "STUDY_COLUMNS",
    "study_findings",
    "study_markdown",
    "study_path_markdown",
    "study_path_text",
    "study_versus_text",
    "sweep_text",
    "UNTRAINED",
    "untrained_text",
    "versus_markdown",
]


#: The study's measures as the chapters' tables show them, as (key, digits).
STUDY_COLUMNS = (
    ("delta_e76", 2),
    ("relief_input", 3),
    ("relief_oracle", 3),
    ("kneecap_input", 3),
    ("spread_l", 2),
    ("shape_score", 3),
)


def _in_registry_order(rows: dict) -> dict:
    """Rows keyed by run name, in the registry's order (Table 2's first)."""
    order = {name: k for k, name in enumerate(EXPERIMENTS)}
    return dict(sorted(rows.items(), key=lambda item: order.get(item[0], len(order))))


def study_markdown(study: dict, split: str = "test") -> str:
    """One split of a ``study.json`` (:func:`kdehist.study.study`) as a Markdown table:
    per run its seeds and each measure of ``STUDY_COLUMNS`` with its 95 % interval
    over inputs, references and seeds."""
    head = ["run", "seeds"] + [MEASURE_NAMES[key] for key, _ in STUDY_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in _in_registry_order(study["splits"][split]).items():
        cells = [row["label"], str(len(row["seeds"]))]
        cells += [
            interval(row[f"{key}_mean"], row[f"{key}_ci95"], digits)
            for key, digits in STUDY_COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def study_versus_text(study: dict, name: str, other: str, split: str = "test") -> str:
    """Run ``name`` against ``other`` in a ``study.json``, on colour and on relief
    against the input: both intervals (bootstrap, Welch), and whether the difference
    is resolved (both exclude zero)."""
    row = study["splits"][split][name]
    parts = []
    for key, digits in (("delta_e76", 2), ("relief_input", 3)):
        change = row["versus"][other][key]
        welch = change["welch_ci95"]
        welch_text = (
            "no Welch interval with one seed"
            if welch[0] is None
            else "Welch " + interval(change["difference"], welch, digits, True)
        )
        parts.append(
            f"{MEASURE_NAMES[key]} "
            f"{interval(change['difference'], change['ci95'], digits, True)} "
            f"(bootstrap; {welch_text}; "
            + ("resolved)" if change["resolved"] else "not resolved)")
        )
    text = f"{row['label']} against {study['splits'][split][other]['label']}: "
    text += "; ".join(parts) + "."
    return text[0].upper() + text[1:]  # a label may start in lower case


def study_findings(study: dict, split: str = "test") -> str:
    """What the shading study found, in a few short sentences from its json: how many
    seeds the runs rest on, the range of relief against the input beside the paper's
    proposed (both)'s, and which differences from it are resolved (both intervals)."""
    rows = _in_registry_order(study["splits"][split])
    seeds = sorted({len(row["seeds"]) for row in rows.values()})
    counts = listing([str(n) for n in seeds]).replace(" and ", " or ")
    text = f"Each run rests on {counts} seed{'s' * (max(seeds) > 1)}"
    if max(seeds) < 2:
        text += ": an anecdote, with no Welch interval, so no difference is resolved"
    text += "."
    paper = rows.get("proposed_both")
    if paper is not None and len(rows) > 1:
        ranked = sorted(rows.values(), key=lambda row: row["relief_input_mean"])
        text += (
            f" Relief against the input runs from {ranked[0]['relief_input_mean']:.2f} "
            f"({ranked[0]['label']}) to {ranked[-1]['relief_input_mean']:.2f} "
            f"({ranked[-1]['label']}); {paper['label']} keeps "
            f"{paper['relief_input_mean']:.2f}."
        )
    resolved = [
        f"{row['label']} ({MEASURE_NAMES[key]})"
        for row in rows.values()
        for key in ("relief_input", "delta_e76")
        if row["versus"].get("proposed_both", {}).get(key, {}).get("resolved")
    ]
    if resolved:
        text += " Resolved against proposed (both): " + listing(resolved) + "."
    elif max(seeds) > 1:
        text += " No difference from proposed (both) is resolved."
    return text


def _seed_value(row: dict, key: str, seed: int = 0) -> float:
    return row[f"{key}_seed_means"][row["seeds"].index(seed)]


def choice_markdown(study: dict) -> str:
    """The choice of each attempt's weight (:func:`kdehist.study.choose`) as a Markdown
    table: proposed (both), then per candidate its ΔE76 and relief against the input
    on the validation pairs, seed 0, and which one was chosen."""
    val = study["splits"]["val"]
    lines = [
        "| attempt | run | ΔE76 | relief vs input | chosen |",
        "|---|---|---|---|---|",
    ]
    if "proposed_both" in val and 0 in val["proposed_both"]["seeds"]:
        paper = val["proposed_both"]
        lines.append(
            f"| (the paper's) | {paper['label']} | "
            f"{_seed_value(paper, 'delta_e76'):.2f} | "
            f"{_seed_value(paper, 'relief_input'):.3f} | |"
        )
    for attempt, choice in study.get("choices", {}).items():
        for name, scores in choice["candidates"].items():
            lines.append(
                f"| {attempt.replace('_', ' ')} | {label(name)} | "
                f"{scores['delta_e76']:.2f} | {scores['relief_input']:.3f} | "
                + ("**chosen** |" if name == choice["chosen"] else "|")
            )
    return "\n".join(lines)


def choice_text(study: dict) -> str:
    """The choice rule and what it chose, in two or three short sentences."""
    choices = study.get("choices", {})
    if not choices:
        return (
            "No attempt has all of its weights scored on the validation pairs, so no "
            "weight is chosen."
        )
    limit = next(iter(choices.values()))["limit"]
    chosen = listing(
        f"{label(choice['chosen'])} for the {attempt.replace('_', ' ')} attempt"
        for attempt, choice in choices.items()
    )
    edges = [
        label(choice["chosen"])
        for choice in choices.values()
        if _at_largest_weight(choice["chosen"], list(choice["candidates"]))
    ]
    edge = (
        f"{listing(edges)} {'is' if len(edges) == 1 else 'are'} the largest weight "
        "tried, so a larger one, untried, might do better still."
        if edges
        else ""
    )
    edge = f" {edge[0].upper()}{edge[1:]}" if edge else ""
    return (
        "The rule: "
        f"{study['choice_rule']}. The allowance puts the ceiling at ΔE76 "
        f"{limit:.2f}. Chosen: {chosen}.{edge}"
    )


def _at_largest_weight(name: str, candidates: list[str]) -> bool:
    """Whether run ``name`` has the largest value, among ``candidates``, of each
    setting in which they differ (an attempt's weight)."""
    settings = [EXPERIMENTS[n].settings for n in candidates]
    varied = {
        k for k in set().union(*settings) if len({str(s.get(k)) for s in settings}) > 1
    }
    mine = EXPERIMENTS[name].settings
    return bool(varied) and all(
        mine.get(k, 0) >= max(s.get(k, 0) for s in settings) for k in varied
    )


def versus_markdown(study: dict, names, split: str = "test") -> str:
    """Runs ``names`` of a ``study.json`` against each of the paper's variants as a
    Markdown table: the paired difference in relief against the input and in ΔE76, each
    with its bootstrap and its Welch interval, and whether it is resolved (both
    exclude zero; with one seed there is no Welch interval)."""
    rows = study["splits"][split]
    lines = [
        "| run | seeds | against | Δ relief vs input (bootstrap) | Welch | "
        "Δ ΔE76 (bootstrap) | Welch |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        row = rows[name]
        for ref, changes in row["versus"].items():
            cells = [row["label"], str(len(row["seeds"])), rows[ref]["label"]]
            for key, digits in (("relief_input", 3), ("delta_e76", 2)):
                change = changes[key]
                boot = interval(change["difference"], change["ci95"], digits, True)
                welch = change["welch_ci95"]
                welch = (
                    "–"
                    if welch[0] is None
                    else interval(change["difference"], welch, digits, True)
                )
                if change["resolved"]:
                    boot, welch = f"**{boot}**", f"**{welch}**"
                cells += [boot, welch]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goal_text(study: dict) -> str:
    """Whether each chosen attempt meets the goal on the test pairs (relief against the
    input resolvably higher, ΔE76 not resolvably higher, against both of the paper's
    variants; :func:`kdehist.study.goal`), one short sentence each."""
    rows = study["splits"]["test"]
    parts = []
    for verdict in study.get("goal", {}).values():
        name = verdict["run"]
        seeds = len(rows[name]["seeds"])
        head = f"{rows[name]['label']} ({seeds} seed{'s' * (seeds > 1)})"
        head = head[0].upper() + head[1:]  # a label may start in lower case
        if verdict["stretch"]:
            parts.append(f"{head} meets the goal and the stretch goal.")
        elif verdict["met"]:
            parts.append(f"{head} meets the goal.")
        else:
            short = [
                rows[ref]["label"]
                for ref, v in verdict["against"].items()
                if not v["relief_better"]
            ]
            costly = [
                rows[ref]["label"]
                for ref, v in verdict["against"].items()
                if v["colour_worse"]
            ]
            why = []
            if short:
                why.append("its relief is not resolvably above " + listing(short))
            if costly:
                why.append("its ΔE76 is resolvably worse than " + listing(costly))
            if len(verdict["against"]) < 2:
                why.append("not every paper variant is scored")
            parts.append(f"{head} does not meet the goal: " + "; ".join(why) + ".")
    if not parts:
        return "No attempt has a chosen weight scored on the test pairs."
    return " ".join(parts)


#: Measures against the oracle that no attempt's loss reads, as (key, digits).
UNTRAINED = (("relief_oracle", 3), ("ssim", 3), ("edge_f1", 3))


def untrained_text(study: dict, split: str = "test") -> str:
    """Each chosen attempt against proposed (both) on measures that no loss of the
    study reads (``UNTRAINED``, all against the oracle), one short sentence each:
    the check on an attempt whose loss reads the relief measure itself."""
    rows = study["splits"][split]
    parts = []
    for verdict in study.get("goal", {}).values():
        name = verdict["run"]
        changes = rows[name]["versus"].get("proposed_both")
        if changes is None:
            continue
        cells = [
            f"{MEASURE_NAMES[key]} "
            + interval(change["difference"], change["ci95"], digits, True)
            + (" (resolved)" if change["resolved"] else "")
            for key, digits in UNTRAINED
            if key in changes
            for change in [changes[key]]
        ]
        name_text = rows[name]["label"][0].upper() + rows[name]["label"][1:]
        parts.append(f"{name_text}: " + ", ".join(cells) + ".")
    if not parts:
        return ""
    return (
        "Against proposed (both), on measures against the oracle that no loss reads "
        "(bootstrap intervals; resolved where Welch agrees): " + " ".join(parts)
    )


def study_path_markdown(study: dict, split: str = "test") -> str:
    """The training path's changes in a ``study.json``
    (:func:`kdehist.study.path_changes`) as a Markdown table: per start and measure, the
    mean change to the path's end with its bootstrap interval and its t-interval over
    seeds (bold: resolved, both exclude zero)."""
    lines = [
        "| steps | measure | change (bootstrap) | t over seeds |",
        "|---|---|---|---|",
    ]
    for change in study["path"]["splits"][split]["changes"]:
        key = change["metric"]
        digits = 2 if key.startswith("delta_e") else 3
        boot = interval(change["difference"], change["ci95"], digits, True)
        t = change["t_ci95"]
        t = "–" if t[0] is None else interval(change["difference"], t, digits, True)
        if change["resolved"]:
            boot, t = f"**{boot}**", f"**{t}**"
        steps = f"{change['from_step']} → {change['to_step']}"
        lines.append(f"| {steps} | {MEASURE_NAMES[key]} | {boot} | {t} |")
    return "\n".join(lines)


def study_path_text(
    study: dict, split: str = "test", verdict_only: bool = False
) -> str:
    """Where the training path stands at the profile's own length against Table 2's
    decayed proposed (both), and the paper's claim on relief against the input from
    there to the path's end, in two sentences (the second alone with
    ``verdict_only``)."""
    entry = study.get("path", {}).get("splits", {}).get(split)
    if not entry:
        return "The training path is not scored on shading in these results."
    changes = {(c["from_step"], c["metric"]): c for c in entry["changes"]}
    start = max(c["from_step"] for c in entry["changes"])
    point = next(p for p in entry["points"] if p["step"] == start)
    seeds = len(point["seeds"])
    text = (
        f"At step {start}, the length of Table 2's runs, whose learning rate has "
        f"decayed almost to zero by then, the constant-rate path is at mean ΔE76 "
        f"{point['delta_e76_mean']:.2f}"
    )
    decayed = study["splits"][split].get("proposed_both")
    if decayed is not None:
        text += f"; Table 2's proposed (both) reaches {decayed['delta_e76_mean']:.2f}"
    colour, relief = changes[start, "delta_e76"], changes[start, "relief_input"]
    verdict = path_verdict(
        start,
        colour["resolved"] and colour["difference"] < 0,
        relief["resolved"] and relief["difference"] < 0,
        "relief against the input",
    )
    end = entry["points"][-1]
    moves = " and ".join(
        f"{what} {point[f'{key}_mean']:.{digits}f} → {end[f'{key}_mean']:.{digits}f}"
        for key, what, digits in (
            ("delta_e76", "mean ΔE76", 2),
            ("relief_input", "relief against the input", 3),
        )
    )
    moves = f"from step {start} to {end['step']}, {moves}"
    if seeds < 2:  # no t-interval: nothing is resolved, so say where it goes
        alone = f"On one seed, {moves}: with no t-interval, no change is resolved."
        return alone if verdict_only else f"{text}. {alone}"
    over = f"mean over {seeds} seeds"
    if verdict_only:
        return f"{verdict[:-1]} ({over})."
    verdict = f"On the {over}: {verdict[0].lower()}{verdict[1:]}"
    return f"{text}. {moves[0].upper()}{moves[1:]}. {verdict}"


def conditioning_text(study: dict, split: str = "test") -> str:
    """Where the colour comes from, in two sentences: proposed (both) without the
    histogram loss (λ_hist 0) against CycleGAN + SN (neither conditioning nor loss)
    and against the paper's weight, on mean ΔE76, with each difference's verdict
    (:func:`kdehist.study.compare`)."""
    rows = study["splits"][split]
    if "hist_lambda0" not in rows:
        return "Without the histogram loss (λ_hist 0), no run is scored here."
    row = rows["hist_lambda0"]
    seeds = len(row["seeds"])
    text = (
        f"Without the histogram loss (λ_hist 0, {seeds} seed{'s' * (seeds > 1)}), "
        f"the conditioned generator reaches mean ΔE76 {row['delta_e76_mean']:.2f}"
    )
    ends = [rows.get("cyclegan_sn"), rows.get("proposed_both")]
    if None not in ends and "proposed_both" in row["versus"]:
        none, paper = (end["delta_e76_mean"] for end in ends)
        share = (none - row["delta_e76_mean"]) / (none - paper)
        text += (
            f", between CycleGAN + SN's {none:.2f} and the paper's weight's "
            f"{paper:.2f}: the conditioning alone covers {share:.0%} of the way, "
            + (
                "and the loss resolvably adds the rest"
                if row["versus"]["proposed_both"]["delta_e76"]["resolved"]
                else "and what the loss adds is not resolved"
            )
        )
    verdicts = [
        f"{rows[ref]['label']} by {change['difference']:+.2f} "
        f"({'resolved' if change['resolved'] else 'not resolved'})"
        for ref in ("cyclegan_sn", "proposed_both")
        if ref in row["versus"]
        for change in [row["versus"][ref]["delta_e76"]]
    ]
    if verdicts:
        text += ". Its ΔE76 differs from " + listing(verdicts)
    return text + "."


def _sweep(rows: dict) -> list[str]:
    """The scored runs that differ from proposed (both) only in λ_hist, by weight."""
    names = [
        name
        for name in rows
        if name in EXPERIMENTS
        and EXPERIMENTS[name].variant == "proposed_both"
        and set(EXPERIMENTS[name].settings) == {"lambda_hist"}
        and not EXPERIMENTS[name].path
    ]
    return sorted(names, key=lambda name: EXPERIMENTS[name].settings["lambda_hist"])


def sweep_text(study: dict, split: str = "test") -> str:
    """The colour weight on shading, in two sentences: mean relief against the input
    and mean ΔE76 along the λ_hist sweep, then the sweep's two ends (λ_hist 30 against
    1) on both, each with its verdict (:func:`kdehist.study.compare`)."""
    rows = study["splits"][split]
    sweep = _sweep(rows)
    if len(sweep) < 2:
        return "Fewer than two weights of the λ_hist sweep are scored here."
    weights = listing([f"{EXPERIMENTS[n].settings['lambda_hist']:g}" for n in sweep])

    def walk(key: str, digits: int) -> str:
        return " → ".join(f"{rows[n][f'{key}_mean']:.{digits}f}" for n in sweep)

    text = (
        f"Along the colour weight, λ_hist {weights}, mean relief against the input "
        f"goes {walk('relief_input', 2)} and mean ΔE76 {walk('delta_e76', 2)}."
    )
    ends = rows.get("hist_lambda30", {}).get("versus", {}).get("hist_lambda1")
    if ends is not None:
        seeds = min(len(rows[n]["seeds"]) for n in ("hist_lambda1", "hist_lambda30"))
        verdicts = [
            f"{MEASURE_NAMES[key]} "
            + interval(ends[key]["difference"], ends[key]["ci95"], digits, True)
            + (" (resolved)" if ends[key]["resolved"] else " (not resolved)")
            for key, digits in (("relief_input", 3), ("delta_e76", 2))
        ]
        text += (
            f" λ_hist 30 against 1 ({seeds} seed{'s' * (seeds > 1)} each): "
            + " and ".join(verdicts)
            + "."
        )
    return text
