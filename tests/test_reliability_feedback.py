"""Reliability — the feedback store (votes, "aucune bonne réponse", declined questions):
processes killed while writing leave a sound database that lost no committed vote; SQL is
always parameterised.

Rows of docs/reliability.md, section "Feedback store".
"""

from __future__ import annotations

import ast
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chatkb.feedback import FeedbackStore

from reliability_support import SRC

WRITER = textwrap.dedent(
    r"""
    import sys, threading
    from chatkb.feedback import FeedbackStore

    path, tag, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    shown = [{"rank": 1, "thread_id": "t1", "confidence": 0.5, "source": "a.txt"}] * 5
    print("READY", flush=True)
    store = FeedbackStore(path)  # may be killed while creating the schema, too
    out = threading.Lock()

    def write(n):
        i = 0
        while True:
            i += 1
            q = f"{tag} question {n} {i} é ' \" ; -- DROP TABLE events"
            kind = i % 3
            if kind == 0:
                rid = store.vote(q, f"t{i}", 1 + i % 5, i % 2 == 0, shown, generation="gen-x")
            elif kind == 1:
                rid = store.no_answer(q, shown, generation="gen-x")
            else:
                rid = store.declined(q, shown, generation="gen-x")
            with out:
                print("OK", rid, flush=True)

    for n in range(threads):
        threading.Thread(target=write, args=(n,), daemon=True).start()
    threading.Event().wait()
    """
)


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def writer(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    return script


def _spawn(script: Path, db: Path, tag: str, threads: int = 4) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(db), tag, str(threads)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_votes_survive_writers_killed_mid_write(tmp_path, writer):
    """Two processes × 4 threads write votes; both are SIGKILLed at a random moment, 10 times.
    Every acknowledged vote is there, the database passes integrity_check, and it keeps working."""
    rng = random.Random()
    db = tmp_path / "feedback.sqlite3"
    acknowledged: set[int] = set()
    rounds, total_kills = 10, 0
    for r in range(rounds):
        if r == 0:
            assert not db.exists()  # first round: killed while creating the database too
        procs = [_spawn(writer, db, f"p{r}-{k}") for k in range(2)]
        for p in procs:
            assert p.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.0, 0.05) if r == 0 else rng.uniform(0.05, 0.6))
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            out, err = p.communicate(timeout=30)
            assert p.returncode == -signal.SIGKILL, err
            total_kills += 1
            # Only whole lines are acknowledgements: the kill may cut the last one mid-write.
            complete = out.split("\n")[:-1]
            acknowledged |= {int(line.split()[1]) for line in complete if line.startswith("OK ")}
        if not db.exists():
            continue
        assert _integrity(db) == "ok"
        store = FeedbackStore(db)  # reopens after the crash (WAL recovery)
        assert store.journal_mode() == "wal"
        events = store.events()  # every row readable, its JSON intact
        ids = {e["id"] for e in events}
        assert acknowledged <= ids, f"lost {len(acknowledged - ids)} acknowledged votes"
        assert all(isinstance(e["shown"], list) and len(e["shown"]) == 5 for e in events)
        store.unanswered()  # the listing query still runs
    assert len(acknowledged) > 100, "the writers hardly wrote anything: the test proves little"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _integrity(db) == "ok"
    print(f"\nfeedback: {total_kills} writer kills, {len(acknowledged)} acknowledged votes, none lost")


def test_a_reader_meanwhile_sees_whole_events_only(tmp_path, writer):
    db = tmp_path / "feedback.sqlite3"
    FeedbackStore(db)
    p = _spawn(writer, db, "r", threads=2)
    assert p.stdout.readline().strip() == "READY"
    store = FeedbackStore(db)
    reads = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        for e in store.events():
            assert e["query"].startswith("r question ") and len(e["shown"]) == 5
        reads += 1
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)
    assert reads > 0 and _integrity(db) == "ok"


def test_a_database_left_with_its_wal_by_a_crash_is_recovered(tmp_path):
    """Simulate the crash by hand: copy the database with its -wal file while a connection is
    open (as a killed process leaves them); the copy opens with every committed row."""
    db = tmp_path / "feedback.sqlite3"
    store = FeedbackStore(db)
    keep = sqlite3.connect(db)  # holds the WAL open: no checkpoint on close
    keep.execute("SELECT count(*) FROM events").fetchone()
    for i in range(50):
        store.vote(f"question {i}", "t", 1, True)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for f in tmp_path.glob("feedback.sqlite3*"):
        (crashed / f.name).write_bytes(f.read_bytes())
    keep.close()
    assert (crashed / "feedback.sqlite3-wal").stat().st_size > 0
    assert len(FeedbackStore(crashed / "feedback.sqlite3").events()) == 50
    assert _integrity(crashed / "feedback.sqlite3") == "ok"


def test_hostile_text_is_stored_as_data(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    evil = [
        "'); DROP TABLE events; --",
        "x' OR '1'='1",
        "\"; DELETE FROM events WHERE 1=1; --",
        "Robert'); DROP TABLE students;--",
        "\x00 nul \x1a sub",
        "=HYPERLINK(\"http://evil\")",
        "💥 " * 500,
        "é" * 10_000,
    ]
    for text in evil:
        store.declined(text, [{"thread_id": text, "source": text}], generation=text)
        store.vote(text, text, 1, False, [{"thread_id": text}], generation=text)
    events = store.events()
    assert len(events) == 2 * len(evil)
    assert [e["thread_id"] for e in events if e["kind"] == "down"] == evil
    assert [e["generation"] for e in events if e["kind"] == "declined"] == evil
    assert {u.query for u in store.unanswered()} == {" ".join(t.split()) for t in evil}
    with sqlite3.connect(store.path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "events" in tables and _integrity(store.path) == "ok"


# ----------------------------------------------------------------------------- parameterised SQL


def _static_sql(node: ast.AST, consts: dict[str, ast.AST]) -> bool:
    """Is this SQL built only from literals (no user value can reach the SQL text)?"""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _static_sql(node.left, consts) and _static_sql(node.right, consts)
    if isinstance(node, ast.IfExp):
        return _static_sql(node.body, consts) and _static_sql(node.orelse, consts)
    if isinstance(node, ast.Name) and node.id in consts:
        return _static_sql(consts[node.id], consts)
    if isinstance(node, ast.JoinedStr):  # only numbers forced with int(...) may be formatted in (PRAGMAs)
        return all(
            isinstance(v, ast.Constant)
            or (isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Call) and ast.unparse(v.value.func) == "int")
            for v in node.values
        )
    return False


def _single_assignments(scope: ast.AST, *, skip_functions: bool) -> dict[str, ast.AST]:
    """Names assigned exactly once in ``scope`` (constants, for our purpose) and their value."""
    values: dict[str, ast.AST] = {}
    counts: dict[str, int] = {}
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        n = stack.pop()
        if skip_functions and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    counts[t.id] = counts.get(t.id, 0) + (2 if isinstance(n, ast.AugAssign) else 1)
                    values[t.id] = n.value
        stack.extend(ast.iter_child_nodes(n))
    return {k: v for k, v in values.items() if counts[k] == 1 and v is not None}


def _sql_calls(path: Path):
    """Every ``.execute/.executemany/.executescript(sql, …)`` call, with the constants in its scope."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_consts = _single_assignments(tree, skip_functions=True)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("execute", "executemany", "executescript") and n.args:
            scope = parents.get(n)
            while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                scope = parents.get(scope)
            consts = dict(module_consts)
            if scope is not None:
                consts.update(_single_assignments(scope, skip_functions=False))
            yield n, consts


def test_every_sql_statement_in_the_sources_is_parameterised():
    offenders, seen = [], 0
    for path in sorted(SRC.rglob("*.py")) + [SRC.parent / "app.py"]:
        for call, consts in _sql_calls(path):
            seen += 1
            if not _static_sql(call.args[0], consts):
                offenders.append(f"{path.name}:{call.lineno}: {ast.unparse(call.args[0])[:80]}")
    assert seen >= 5  # the feedback store's statements were found
    assert not offenders, offenders


@pytest.mark.parametrize(
    "snippet, ok",
    [
        ('conn.execute("SELECT * FROM t WHERE a = ?", (a,))', True),
        ('conn.execute("SELECT 1" + (" WHERE k = ?" if k else ""))', True),
        ('conn.execute(f"PRAGMA busy_timeout = {int(t)}")', True),
        ('conn.execute(f"SELECT * FROM t WHERE q = \'{q}\'")', False),
        ('conn.execute("SELECT * FROM t WHERE q = \'%s\'" % q)', False),
        ('conn.execute("SELECT * FROM t WHERE q = \'{}\'".format(q))', False),
        ('conn.execute("SELECT * FROM t WHERE q = \'" + q + "\'")', False),
    ],
)
def test_the_sql_checker_itself(tmp_path, snippet, ok):
    f = tmp_path / "m.py"
    f.write_text(f"def f(conn, a, k, t, q):\n    {snippet}\n", encoding="utf-8")
    calls = list(_sql_calls(f))
    assert len(calls) == 1 and _static_sql(calls[0][0].args[0], calls[0][1]) is ok
