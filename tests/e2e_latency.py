"""Time from pressing Enter to the answers shown, in a real browser (not a test).

    .venv/bin/python tests/e2e_latency.py [--index DIR] [-n 20] [--warmup 3]

Starts ``streamlit run app.py`` on a free port (on ``--index``, or on a fresh index of the
bundled corpus built in a temporary folder), drives Debian's chromium with Playwright, and
for each question measures in the page itself: from the Enter ``keydown`` to the first
animation frame after the first answer card shows the expected answer (the one the library
ranks first for that question). Prints every timing, the median and the 95th percentile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_e2e_browser import CARD, CORPUS, QUESTION_INPUT, launch_chromium, streamlit_server, wait_idle  # noqa: E402

QUESTIONS = [
    "homonymes google",
    "linkedin ou viadeo",
    "quelle longueur pour un cv",
    "comment être visible sur internet",
    "photo sur le cv",
    "trou dans mon cv",
    "logiciels de recrutement ats",
    "réseaux sociaux spécialisés médico-social",
    "huzz c'est quoi",
    "relier mes profils entre eux",
    "candidature spontanée",
    "négocier mon salaire",
    "mes défauts en entretien",
    "période d'essai",
    "reconversion professionnelle",
    "lettre de motivation",
    "premier emploi sans expérience",
    "marché caché",
    "entreprise sur les réseaux sociaux",
    "licencié pour usage des médias sociaux",
    "cmt se preparer a un entretien",
    "relancer un recruteur apres candidature",
    "twitter pour chercher un emploi",
    "e-réputation",
    "marque employeur",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, help="index to serve (default: build one from corpus/ in a temporary folder)")
    ap.add_argument("-n", type=int, default=20, help="questions measured (after warm-up)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--app", type=Path, default=Path(__file__).resolve().parents[1] / "app.py", help="the page to serve")
    args = ap.parse_args(argv)

    from chatkb.search import KnowledgeBase

    with tempfile.TemporaryDirectory(prefix="chatkb-latency-") as tmp:
        tmp = Path(tmp)
        index = args.index
        if index is None:
            from chatkb.index import build_index

            index = tmp / "index"
            print("Construction de l'index du corpus…", file=sys.stderr)
            build_index([CORPUS], index)
        kb = KnowledgeBase.open(index, glossary=CORPUS / "glossaire.tsv")
        # Each question with the answer the page must show first; consecutive questions must
        # differ in their top answer, or the first card would not change.
        plan: list[tuple[str, str]] = []
        for q in QUESTIONS:
            top = " ".join(kb.search(q, k=1).hits[0].thread.questions[0].text.split())
            if not plan or plan[-1][1] != top:
                plan.append((q, top))
        needed = args.warmup + args.n
        while len(plan) < needed:  # cycle through the list again when it is short
            for q, top in list(plan):
                if plan[-1][1] != top:
                    plan.append((q, top))
        plan = plan[:needed]

        from playwright.sync_api import sync_playwright

        timings: list[float] = []
        with streamlit_server(index, CORPUS, feedback=tmp / "feedback.sqlite3", log=tmp / "streamlit.log", app=args.app) as url, sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector(QUESTION_INPUT, timeout=180_000)
            wait_idle(page)
            for i, (question, top) in enumerate(plan):
                page.evaluate(
                    """([input, card, expected]) => {
                        window.__t0 = null; window.__t1 = null;
                        const box = document.querySelector(input);
                        box.addEventListener("keydown", (e) => { if (e.key === "Enter") window.__t0 = performance.now(); }, { once: true, capture: true });
                        const norm = (s) => s.replace(/\\s+/g, " ");
                        const check = () => {
                            const c = document.querySelector(card);
                            if (window.__t0 !== null && c && norm(c.innerText).includes(expected)) {
                                observer.disconnect();
                                requestAnimationFrame(() => { window.__t1 = performance.now(); });
                            }
                        };
                        const observer = new MutationObserver(check);
                        observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
                    }""",
                    [QUESTION_INPUT, CARD, top],
                )
                page.fill(QUESTION_INPUT, question)
                page.press(QUESTION_INPUT, "Enter")
                page.wait_for_function("() => window.__t1 !== null", timeout=60_000, polling=50)
                ms = page.evaluate("window.__t1 - window.__t0")
                wait_idle(page)
                if i >= args.warmup:
                    timings.append(ms)
                print(f"{'mesure' if i >= args.warmup else 'chauffe'} {ms:7.1f} ms  {question}", file=sys.stderr)
                time.sleep(0.2)
            browser.close()

    timings.sort()
    median = statistics.median(timings)
    p95 = timings[min(len(timings) - 1, int(round(0.95 * (len(timings) - 1))))]
    result = {"questions": len(timings), "median_ms": round(median, 1), "p95_ms": round(p95, 1), "min_ms": round(timings[0], 1), "max_ms": round(timings[-1], 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Entrée → réponses affichées, sur {len(timings)} questions après {args.warmup} de chauffe : "
              f"médiane {median:.0f} ms, p95 {p95:.0f} ms (min {timings[0]:.0f}, max {timings[-1]:.0f}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
