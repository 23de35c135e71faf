"""The ``chatkb`` command: thin wrappers over the library that print its results."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from functools import wraps
from pathlib import Path

import click

from .errors import ChatkbError
from .labels import confidence_label

INDEX_OPTION = click.option(
    "--index", "index_dir", envvar="CHATKB_INDEX", default="index", show_default=True, type=click.Path(file_okay=False),
    help="Dossier de l'index (ou $CHATKB_INDEX).",
)
MODEL_OPTION = click.option("--model", envvar="CHATKB_MODEL", default=None, help="Modèle d'embedding : dossier local ou nom (ou $CHATKB_MODEL).")


def friendly(fn):
    """Turn chatkb's typed errors into one-line messages and exit codes."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ChatkbError as exc:
            click.echo(f"Erreur : {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrompu.", err=True)
            sys.exit(130)

    return wrapper


@click.group()
@click.version_option(package_name="chatkb")
def cli() -> None:
    """chatkb : la base de réponses d'experts (chats Apec, FAQ)."""


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["auto", "chat", "markdown"]), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON (contrat stable).")
@friendly
def parse(file: str, fmt: str, as_json: bool) -> None:
    """Découpe FILE en fils question/réponse et les affiche."""
    from .parse import parse_file, unread_warning

    doc = parse_file(file, format=fmt)
    if as_json:
        click.echo(json.dumps(doc.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render_document(doc))
    if not doc.threads:
        click.echo(f"Attention : {Path(file).name} : aucune question trouvée.", err=True)
    elif warning := unread_warning(doc):
        click.echo(f"Attention : {warning}", err=True)


def render_document(doc) -> str:
    out = [f"{doc.source} — format {doc.format}, {len(doc.threads)} fil(s)"]
    if doc.title:
        out.append(f"Titre : {doc.title}")
    if doc.expert:
        out.append(f"Expert : {doc.expert}")
    for n, t in enumerate(doc.threads, 1):
        out.append("")
        out.append(f"[{n}] {t.id}" + (f"  (thème : {t.topic})" if t.topic else ""))
        for q in t.questions:
            out.append(f"  Q l.{q.line} {q.speaker or '—'} : {_short(q.text, 100)}")
        if t.answer:
            first = t.answer.text.split("\n", 1)[0]
            out.append(f"  R l.{t.answer.start_line}–{t.answer.end_line} : {_short(first, 100)}")
        else:
            out.append("  R : (sans réponse)")
    if doc.skipped:
        out.append("")
        out.append("Lignes écartées : " + ", ".join(f"{s.line} ({s.kind})" for s in doc.skipped))
    return "\n".join(out)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@INDEX_OPTION
@MODEL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Rapport JSON.")
@click.option("--wait", default=600.0, show_default=True, help="Secondes d'attente si une autre construction est en cours (0 : refuser).")
@friendly
def build(paths: tuple[str, ...], index_dir: str, model: str | None, as_json: bool, wait: float) -> None:
    """Construit (ou met à jour) l'index à partir des fichiers .txt/.md de PATHS (défaut : corpus/)."""
    from .index import build_index

    paths = paths or (os.environ.get("CHATKB_CORPUS") or "corpus",)
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage != "embed" or as_json:
            return
        from tqdm import tqdm

        bar = bars.get(stage)
        if bar is None:
            # disable=None: no bar when stderr is not a terminal (logs, CI), where each refresh would be a line
            bar = bars[stage] = tqdm(total=total, desc="Embeddings", unit="texte", file=sys.stderr, leave=False, disable=None)
        bar.n = done
        bar.refresh()

    report = build_index(paths, index_dir, model=model, progress=progress, lock_timeout=wait)
    for bar in bars.values():
        bar.close()
    for w in report.warnings:
        click.echo(f"Attention : {w}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    if not report.changed:
        click.echo(f"Index à jour ({report.threads} fils, {report.files} fichiers) : rien n'a changé, rien à recalculer.")
        return
    click.echo(
        f"Index {report.index} : {report.threads} fils ({report.units} unités) depuis {report.files} fichiers — "
        f"{report.added} ajouté(s), {report.updated} modifié(s), {report.removed} supprimé(s), {report.unchanged} inchangé(s) ; "
        f"{report.embedded} vecteur(s) calculé(s), {report.reused} réutilisé(s) "
        f"(encodeur français : {report.embedded_french} calculé(s)), en {report.seconds:.1f} s."
    )


@cli.command()
@click.argument("question", required=False)
@INDEX_OPTION
@MODEL_OPTION
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1, 50), help="Nombre de réponses.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON (contrat stable).")
@click.option("--batch", type=click.File("r", encoding="utf-8", errors="replace"), help="Une question par ligne (FILE ou - pour l'entrée standard).")
@friendly
def ask(question: str | None, index_dir: str, model: str | None, k: int, as_json: bool, batch) -> None:
    """Cherche les réponses d'experts les plus proches de QUESTION."""
    from .errors import QueryError
    from .search import KnowledgeBase

    if question is None and batch is None:
        raise click.UsageError("donnez une QUESTION ou --batch FILE.")
    kb = KnowledgeBase.open(index_dir, model=model)
    if batch is None:
        result = kb.search(question, k=k)
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else render_result(result))
        return
    for line in batch:
        line = line.rstrip("\n")
        try:
            result = kb.search(line, k=k)
        except QueryError as exc:
            if as_json:
                click.echo(json.dumps({"query": line, "answered": False, "results": [], "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"« {line} » : {exc}\n")
            continue
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else render_result(result) + "\n")


def _keep_with_word(text: str) -> str:
    """French spacing made non-breaking, so that a line never starts with ":" or "?"."""
    return re.sub(r"« ", "«\u00a0", re.sub(r" ([:;!?»])", "\u00a0\\1", text))


def render_result(result) -> str:
    out = []
    if not result.answered:
        out.append("Aucune réponse suffisamment proche dans la base.")
        if result.hits:
            out.append("Les fils les plus proches, à titre indicatif :")
    for n, hit in enumerate(result.hits, 1):
        t = hit.thread
        out.append("")
        label = confidence_label(hit.confidence)
        out.append(f"{n}. {label} ({hit.confidence:.0%})" + ("" if result.answered or label == "Éloigné" else " — éloigné"))
        for q in t.questions:
            out.append(f"   Question{(' de ' + q.speaker) if q.speaker else ''} : {_short(q.text, 200)}")
        if t.answer:
            who = t.answer.speaker or hit.source.expert or "l'expert"
            out.append(f"   Réponse de {who} :")
            text = t.answer.text
            if hit.source.format == "markdown":
                from .page import markdown_to_plain

                text = markdown_to_plain(text)  # no "**" in a terminal
            out.extend(textwrap.indent(textwrap.fill(_keep_with_word(p), 96, break_on_hyphens=False), "     ") for p in text.split("\n") if p.strip())
        src = hit.source.title or hit.source.path
        out.append(f"   Source : {src} ({hit.source.path}, l.{t.start_line}–{t.end_line})")
    return "\n".join(out)


@cli.command("eval")
@click.argument("queries", type=click.Path(dir_okay=False, exists=True))
@INDEX_OPTION
@MODEL_OPTION
@click.option("--split", default=None, help="Ne garder que les requêtes de ce split (dev, test).")
@click.option("--mode", type=click.Choice(["hybrid", "bm25", "dense", "french"]), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@friendly
def eval_cmd(queries: str, index_dir: str, model: str | None, split: str | None, mode: str, as_json: bool) -> None:
    """Mesure R@1, R@3, R@5, MRR et les refus sur QUERIES.jsonl."""
    from .evaluate import evaluate, load_queries
    from .search import KnowledgeBase

    kb = KnowledgeBase.open(index_dir, model=model)
    report = evaluate(kb, load_queries(queries, split=split), mode=mode)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    click.echo(
        f"{report['answerable']} requêtes avec réponse, {report['unanswerable']} sans ({mode}) : "
        f"R@1 {report['r@1']:.3f} · R@3 {report['r@3']:.3f} · R@5 {report['r@5']:.3f} · MRR {report['mrr']:.3f}\n"
        f"Refus corrects : {report['declined_correctly']}/{report['unanswerable']} · "
        f"refus à tort : {report['declined_wrongly']}/{report['answerable']} · "
        f"latence médiane {report['latency_ms_median']:.1f} ms (p95 {report['latency_ms_p95']:.1f} ms)"
    )


@cli.command(hidden=True)
@click.argument("queries", type=click.Path(dir_okay=False, exists=True))
@INDEX_OPTION
@MODEL_OPTION
@click.option("--split", default="dev", show_default=True)
@friendly
def tune(queries: str, index_dir: str, model: str | None, split: str) -> None:
    """(Développement) Ajuste la fusion et la confiance sur le split dev ; imprime les paramètres."""
    from dataclasses import asdict

    from .evaluate import load_queries, tune as fit
    from .search import KnowledgeBase

    kb = KnowledgeBase.open(index_dir, model=model)
    click.echo(json.dumps(asdict(fit(kb, load_queries(queries, split=split))), indent=2))


# ----------------------------------------------------------------------------- bench (issue 6)
@cli.command()
@click.option("--pairs", default=200, show_default=True, type=click.IntRange(10, 100_000), help="Fils synthétiques embarqués pour mesurer la construction.")
@click.option("--json", "as_json", is_flag=True, help="Imprimer le rapport JSON (au lieu du tableau).")
@click.option("--out", default="docs/benchmarks.json", show_default=True, type=click.Path(dir_okay=False), help="Fichier JSON du rapport ('' : aucun).")
@click.option("--docs", "docs_dir", default="docs", show_default=True, type=click.Path(file_okay=False), help="Dossier de benchmarks.md et bench-latency.png ('' : aucun).")
@click.option("--quick", is_flag=True, help="Bases plus petites (2k, 20k fils) : quelques minutes.")
@click.option("--sizes", default=None, help="Tailles de base, en fils, séparées par des virgules (défaut : 10000,100000,1000000).")
@click.option("--corpus", default="corpus", show_default=True, type=click.Path(file_okay=False, exists=True), help="Corpus d'où tirer formes et vocabulaire.")
@click.option("--work", default=None, type=click.Path(file_okay=False), help="Dossier de travail (défaut : temporaire, effacé).")
@click.option("--keep", is_flag=True, help="Garder les index écrits.")
@friendly
def bench(pairs: int, as_json: bool, out: str, docs_dir: str, quick: bool, sizes: str | None, corpus: str, work: str | None, keep: bool) -> None:
    """Mesure construction, ajout incrémental, latence (10k/100k/1M fils), mémoire, démarrage à froid."""
    from .bench import SIZES, Options, render_table, run, write_docs

    opts = Options(pairs=pairs, quick=quick, corpus=corpus, work=work, keep=keep, out=out or None, docs=docs_dir or None,
                   sizes=tuple(int(s) for s in sizes.split(",")) if sizes else SIZES)
    report = run(opts)
    if opts.out:
        Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.out).write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if opts.docs:
        write_docs(report, Path(opts.docs))
    click.echo(json.dumps(report, ensure_ascii=False) if as_json else render_table(report))


def main() -> None:  # pragma: no cover
    cli()
