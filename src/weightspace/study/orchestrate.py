"""Run a whole study: plan, lock, resume, execute, collect, compare, report.

Resume semantics: a run is finished when its directory holds the ``COMPLETE`` marker and
every file its ``MANIFEST.json`` lists, with the same size and SHA-256. A rerun of the same
spec into the same directory skips finished runs, retries failed ones, moves finished runs
whose files are missing or changed to ``runs/.damaged/`` (never deleted) and runs them
again, and removes the ``.incomplete-*`` leftovers of runs that were killed. Run directories appear by
an atomic rename, so a study killed with SIGKILL at any moment loses no finished run and,
rerun, duplicates none.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from weightspace import store
from weightspace.compare import PROTOCOLS, CompareResult, compare
from weightspace.compare.conclude import prediction_sentence
from weightspace.compare.load import published_bert_dir
from weightspace.compare.result import discard_stored, save_to_study
from weightspace.config import check_int
from weightspace.errors import WeightspaceError, unknown_choice
from weightspace.report import build_report
from weightspace.store import RUNS_DIR, SPEC_FILE, StudyPaths
from weightspace.study import runners
from weightspace.study.collect import collect
from weightspace.study.execute import RunFn
from weightspace.study.lock import StudyLock
from weightspace.study.plan import RunPlan, expand
from weightspace.study.predict import prediction_check
from weightspace.study.spec import StudySpec
from weightspace.study.summary import Overview, overview
from weightspace.synthetic import SyntheticSettings, show_quality
from weightspace.train.modalities import modality_of
from weightspace.train.text import TextModality

log = logging.getLogger(__name__)

TEXT = TextModality.name  # a text study is also set beside the published BERT tables


@dataclass(frozen=True)
class StudyResult:
    """Where a finished study put everything, and how its runs went."""

    study_dir: Path
    runs_table: Path
    layers_table: Path
    total: int
    done: int
    failed: int
    skipped: int  # finished before this invocation
    wall_time_s: float
    overview: Overview
    compare_dir: Path | None = None
    report: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    damaged: tuple[str, ...] = field(default_factory=tuple)  # runs moved aside and rerun
    answers: tuple[str, ...] = field(default_factory=tuple)  # the headline sentences
    analysis_failed: bool = False  # the comparison, diversity check or report raised

    @property
    def runs(self) -> pd.DataFrame:
        return store.read_table(self.runs_table)


def plan_status(plan: RunPlan, runs_dir: Path) -> str:
    """The status value of ``plan``'s run (:func:`weightspace.store.run_status`)."""
    return store.run_status(runs_dir / plan.dir_name).value


def plan_table(plans: list[RunPlan], study_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The dry-run table: condition, category, strength, seed, run_id, status."""
    runs_dir = Path(study_dir) / RUNS_DIR
    return pd.DataFrame(
        {
            "condition": [p.condition for p in plans],
            "category": [p.category for p in plans],
            "strength": [p.strength for p in plans],
            "seed": [p.seed for p in plans],
            "run_id": [p.run_id for p in plans],
            "status": [plan_status(p, runs_dir) for p in plans],
        }
    )


def check_plans(plans: list[RunPlan]) -> None:
    """Catch what would make every run fail before any starts: names, local weight files."""
    first = plans[0].config
    modality = modality_of(first.dataset)  # a study has one dataset
    seen: set[str] = set()
    for plan in plans:  # one check per distinct augmentation (dataset, model are shared)
        if repr(plan.config.augment) not in seen:
            seen.add(repr(plan.config.augment))
            modality.check_names(plan.config)
    modality.check_weights(first)  # load the weights once now rather than fail in every run


def _synthetic_quality(study_dir: Path, plans: list[RunPlan]) -> None:
    """The built-in generator's quality for every seed with a finished ``gen`` run, in
    ``<study>/synthetic/s<seed>/`` (the report shows it; :func:`weightspace.synthetic.show_quality`)."""
    paths = StudyPaths(study_dir)
    shown: set[int] = set()
    for plan in plans:
        syn = plan.config.synthetic
        if (
            syn is None
            or plan.seed in shown
            or not store.is_complete(paths.runs_dir / plan.dir_name)
            or SyntheticSettings.from_mapping(syn).source != "builtin"
        ):
            continue
        show_quality(plan.config, paths.synthetic_seed_dir(plan.seed))
        shown.add(plan.seed)


def _diversity(study_dir: Path, notes: list[str], encoder: str) -> pd.DataFrame | None:
    """The diversity prediction check (``<study>/diversity.parquet``) for the report; its
    correlations (None when it failed)."""
    try:
        return prediction_check(study_dir, encoder=encoder, draws=2, n=1000).correlations
    except Exception as err:  # the tables are written; a scoring failure must not lose them
        log.debug("diversity check failed", exc_info=True)
        notes.append(f"diversity check failed: {type(err).__name__}: {err}")
        return None


def _answers(results: dict[str, Any], correlations: pd.DataFrame | None) -> tuple[str, ...]:
    """The study's three answers: where data diversity sits between dropout and weight
    decay, rotate or rescale, and whether the diversity score predicts the accuracy gain."""
    default = results.get("default")
    if default is None:
        return ()
    out = [default.conclusions[0]]
    out += [c for c in default.conclusions if c.startswith("Rotate or rescale")][:1]
    if correlations is not None:
        out.append(prediction_sentence(correlations))
    return tuple(out)


def _published_tables(study_dir: Path, notes: list[str]) -> None:
    """For a text study, the paper protocol on the published bert-base tables, stored in
    ``compare/published/`` beside the study's own (the report sets them side by side)."""
    folder = published_bert_dir()
    if not folder.is_dir():
        log.info("published BERT tables not found at %s; the report says how to add them", folder)
        return
    try:
        compare(folder, protocol="paper").to_dir(StudyPaths(study_dir).published_compare_dir)
    except Exception as err:  # a broken reference folder must not stop the study
        log.debug("paper protocol on %s failed", folder, exc_info=True)
        notes.append(f"paper protocol on the published tables {folder} failed: {err}")


def _compare_and_report(
    study_dir: Path, *, diversity: bool | str = False, text: bool = False
) -> tuple[Path | None, Path | None, list[str], tuple[str, ...]]:
    """Both comparison protocols stored in ``<study>/compare/<protocol>/`` (with the ΔΔ table,
    ``dd.parquet``), then (optionally) the diversity prediction check, then the HTML report,
    which reads what was stored; and the study's answers.

    A failure there is logged and noted, not raised, so that the other steps still run and
    the study's runs and tables are kept; the caller reports it (the CLI exits non-zero). A
    comparison that fails removes the one stored before, which no longer matches the runs.
    """
    notes: list[str] = []
    report: Path | None = None
    results: dict[str, CompareResult] = {}
    paths = StudyPaths(study_dir)
    for protocol in PROTOCOLS:
        try:
            results[protocol] = compare(study_dir, protocol=protocol)
        except Exception as err:  # the tables are written; a comparison bug must not lose them
            log.debug("comparison %s failed", protocol, exc_info=True)
            notes.append(f"comparison ({protocol}) failed: {type(err).__name__}: {err}")
            discard_stored(paths.compare_protocol_dir(protocol))
    save_to_study(study_dir, results)
    if text:
        _published_tables(study_dir, notes)
    correlations = None
    if diversity:
        encoder = diversity if isinstance(diversity, str) else "baseline"
        correlations = _diversity(study_dir, notes, encoder)
    try:
        report = Path(build_report(study_dir, out=paths.report))
    except Exception as err:
        log.debug("report failed", exc_info=True)
        notes.append(f"report failed: {type(err).__name__}: {err}")
    for note in notes:
        log.warning(note)
    return paths.compare_dir, report, notes, _answers(results, correlations)


def _prepare_dir(
    spec: StudySpec, study_dir: Path, plans: list[RunPlan]
) -> list[tuple[Path, Path, list[str]]]:
    """Make the study directory ready for ``plans``: remove the leftovers of interrupted
    runs, write the spec, move damaged finished runs aside (returned: they run again)."""
    runs_dir = study_dir / RUNS_DIR
    runs_dir.mkdir(parents=True, exist_ok=True)
    for leftover in store.clean_incomplete(runs_dir):
        log.info("removed the leftover of an interrupted run: %s", leftover.name)
    spec_path = study_dir / SPEC_FILE
    if spec_path.is_file() and StudySpec.from_toml(spec_path) != spec:
        log.warning("%s changes the spec; runs of the old spec stay in %s", spec_path, runs_dir)
    spec_path.write_text(spec.to_toml())
    return store.quarantine_damaged([runs_dir / p.dir_name for p in plans])


# over 80 lines by its signature and docs; the body is the study's steps in order
def run_study(
    spec: StudySpec,
    out_dir: str | os.PathLike[str],
    *,
    workers: int = 2,
    threads: int = 1,
    runner: str = "local",
    address: str | None = None,
    progress: bool = True,
    run_fn: RunFn | None = None,
    analyze: bool = True,
    diversity: bool | str = False,
) -> StudyResult:
    """Run every pending run of ``spec`` into ``out_dir``, then collect, compare and report.

    ``workers`` parallel runs (0: in this process) of ``threads`` torch threads each;
    ``runner`` "local" (process pool) or "ray" (``address`` of a cluster, or a local Ray
    instance when None). ``run_fn`` replaces :func:`weightspace.train.run` (same signature;
    must be picklable by reference). ``analyze=False`` skips the comparison and report;
    ``diversity=True`` (or an encoder name; default: the spec's ``diversity``) adds the
    diversity prediction check (Vendi, ρ, WVS per condition against the accuracy gain) before
    the report.
    """
    diversity = diversity or spec.diversity
    if runner not in runners.RUNNERS:
        raise unknown_choice("runner", runner, runners.RUNNERS)
    if runner == "ray" and address:
        runners.check_ray_address(address)  # before anything is written
    check_int("workers (0 = in this process)", workers, minimum=0)
    check_int("threads", threads, minimum=1)
    plans = expand(spec)
    if run_fn is None:
        check_plans(plans)
    study_dir = Path(out_dir)
    runs_dir = study_dir / RUNS_DIR
    start = time.time()
    with StudyLock(study_dir):
        damaged = _prepare_dir(spec, study_dir, plans)
        todo = [p for p in plans if not store.is_complete(runs_dir / p.dir_name)]
        skipped = len(plans) - len(todo)
        log.info("%d runs planned, %d already finished, %d to run", len(plans), skipped, len(todo))
        bar = runners.ProgressBar(len(todo), desc=spec.name, enabled=progress and bool(todo))
        try:
            kwargs: dict[str, Any] = dict(
                workers=workers, threads=threads, run_fn=run_fn, report=bar
            )
            if runner == "ray":
                results = runners.run_ray(todo, runs_dir, address=address, **kwargs)
            else:
                results = runners.run_local(todo, runs_dir, **kwargs)
        finally:
            bar.close()
        runs, layers = collect(study_dir, plans=plans)
        if run_fn is None and any(p.config.synthetic is not None for p in plans):
            try:
                _synthetic_quality(study_dir, plans)
            except WeightspaceError as err:
                log.warning("synthetic-data quality not collected: %s", err)
    text = modality_of(plans[0].config.dataset).name == TEXT if plans else False
    compare_dir, report, notes, answers = (
        _compare_and_report(study_dir, diversity=diversity, text=text)
        if analyze
        else (None, None, [], ())
    )
    failed = sum(r["status"] == "failed" for r in results)
    return StudyResult(
        study_dir=study_dir,
        runs_table=StudyPaths(study_dir).runs_table,
        layers_table=StudyPaths(study_dir).layers_table,
        total=len(plans),
        done=int(store.usable(runs).sum()),
        failed=failed,
        skipped=skipped,
        wall_time_s=time.time() - start,
        overview=overview(runs, layers),
        compare_dir=compare_dir,
        report=report,
        notes=tuple(notes),
        damaged=tuple(
            f"{src.name}: {'; '.join(why)} (moved to {dest})" for src, dest, why in damaged
        ),
        analysis_failed=bool(notes),
        answers=answers,
    )
