"""Reliability — builds that die, and builds that race: the previous index always opens and
answers, the next build succeeds, and two builds never mix their files.

Rows of docs/reliability.md, section "Crashes". A build runs in a child process (the fake
embedder: a build takes a fraction of a second) and is SIGKILLed either after a random delay
or at a random point of its write path (before or after a random call to a file-writing
function), 20 times in a row.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatkb.cli import cli
from chatkb.errors import BuildLockedError, IndexMissingError
from chatkb.index import build_index, current_generation, open_index

from conftest import FakeEmbedder
from reliability_support import TESTS, assert_answers, extra_faq, fake_build, make_corpus

KILLS = 20

CHILD = textwrap.dedent(
    r"""
    import os, signal, sys, time
    sys.path.insert(0, {tests!r})
    from conftest import FakeEmbedder
    import chatkb.dense, chatkb.index, chatkb.lexical, numpy, shutil
    import bm25s, charset_normalizer, faiss, filelock, markdown_it, chatkb.chat, chatkb.faq  # warm: the delay covers the build only
    from chatkb.index import build_index

    corpus, index, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    lock_timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 600.0

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def hook(owner, attr, nth, when):
        real = getattr(owner, attr)
        count = [0]
        def wrapper(*a, **k):
            count[0] += 1
            if count[0] == nth and when == "before":
                die()
            out = real(*a, **k)
            if count[0] == nth and when == "after":
                die()
            return out
        setattr(owner, attr, wrapper)

    OWNERS = {{
        "write_json": (chatkb.index, "_write_json"), "np.save": (numpy, "save"),
        "save_dense": (chatkb.dense, "save_dense"), "bm25.save": (chatkb.lexical.LexicalIndex, "save"),
        "fsync": (os, "fsync"), "fsync_dir": (chatkb.index, "_fsync_dir"), "rename": (os, "rename"),
        "replace": (os, "replace"), "cleanup": (chatkb.index, "_cleanup"), "rmtree": (shutil, "rmtree"),
    }}
    stage_kill = None
    hold = None
    if mode.startswith("hook:"):
        _, name, nth, when = mode.split(":")
        owner, attr = OWNERS[name]
        hook(owner, attr, int(nth), when)
    elif mode.startswith("stage:"):
        stage_kill = mode.split(":")[1]
    elif mode.startswith("hold:"):
        hold = mode.split(":", 1)[1]  # wait at the first progress call until this file exists

    def progress(stage, done, total):
        global hold
        if stage == stage_kill:
            die()
        if hold:
            print("HOLDING", flush=True)
            while not os.path.exists(hold):
                time.sleep(0.02)
            hold = None
        print("STAGE", stage, time.time(), flush=True)

    FakeEmbedder()  # everything imported and ready
    print("READY", flush=True)
    sys.stdin.readline()
    print("START", time.time(), flush=True)
    try:
        report = build_index([corpus], index, embedder=FakeEmbedder(), progress=progress, lock_timeout=lock_timeout)
    except Exception as exc:
        print("ERROR", type(exc).__name__, str(exc).replace("\n", " "), flush=True)
        sys.exit(3)
    print("DONE", time.time(), report.generation, flush=True)
    """
)

HOOKS = {  # name -> how many calls a build makes (at least), to pick a random one
    "write_json": 3, "np.save": 1, "save_dense": 1, "bm25.save": 1, "fsync": 12, "fsync_dir": 2,
    "rename": 1, "replace": 1, "cleanup": 1, "rmtree": 1,
}


class Child:
    """A build in a child process, imported and waiting for the go."""

    def __init__(self, script: Path, corpus: Path, index: Path, mode: str, lock_timeout: float = 600.0):
        self.mode = mode
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(corpus), str(index), mode, str(lock_timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, word: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"child ended before {word}: {self.lines} {self.proc.stderr.read()}")
            self.lines.append(line.strip())
            if line.startswith(word):
                return line.strip()
        raise AssertionError(f"no {word} within {timeout} s")

    def go(self) -> None:
        self.wait_for("READY")
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60.0) -> int:
        out, err = self.proc.communicate(timeout=timeout)
        self.lines += out.splitlines()
        self.stderr = err
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)


@pytest.fixture
def child_script(tmp_path):
    script = tmp_path / "build_child.py"
    script.write_text(CHILD.format(tests=str(TESTS)), encoding="utf-8")
    return script


def _questions(index: Path) -> set[str]:
    return {q.text for t in open_index(index).threads for q in t.questions}


def _no_leftovers(index: Path) -> None:
    assert not list(index.glob("*.tmp")), list(index.glob("*.tmp"))
    assert len(list(index.glob("gen-*"))) <= 2


@pytest.mark.slow
def test_a_build_killed_at_random_points_20_times_in_a_row_loses_nothing(tmp_path, child_script):
    rng = random.Random(int(os.environ.get("CHATKB_KILL_SEED", time.time_ns() % 2**32)))
    corpus = make_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    fake_build(corpus, index)

    # How long a build takes here (child process, warm), to spread the random delays over it.
    (corpus / "calibrate.md").write_text(extra_faq(999), encoding="utf-8")
    c = Child(child_script, corpus, index, "none")
    c.go()
    assert c.finish() == 0, c.stderr
    start = next(float(x.split()[1]) for x in c.lines if x.startswith("START"))
    done = next(float(x.split()[1]) for x in c.lines if x.startswith("DONE"))
    build_seconds = max(0.02, done - start)

    # Every write step is hit at least once (both sides of the two renames that publish), at a
    # random call among its calls, in a random order, among kills after a random delay.
    schedule = [f"hook:{n}:1:{w}" for n in ("rename", "replace") for w in ("before", "after")]
    schedule += [f"hook:{n}:{rng.randint(1, HOOKS[n])}:{rng.choice(['before', 'after'])}" for n in sorted(HOOKS) if n not in ("rename", "replace")]
    schedule += ["stage:embed", "stage:index"]
    schedule += ["delay"] * (KILLS - len(schedule))
    rng.shuffle(schedule)

    def new_child() -> Child:
        mode = schedule.pop() if schedule else "delay"
        return Child(child_script, corpus, index, mode)

    kills, attempts, published_by_killed, log = 0, 0, 0, []
    present: set[int] = set()
    nxt = new_child()
    while kills < KILLS:
        attempts += 1
        assert attempts <= 3 * KILLS, f"only {kills} kills in {attempts} attempts: {log}"
        previous = current_generation(index)
        previous_questions = _questions(index)
        # change the corpus so that the build has something to publish
        n = attempts
        (corpus / f"extra-{n}.md").write_text(extra_faq(n), encoding="utf-8")
        present.add(n)
        if n % 3 == 0 and len(present) > 1:
            gone = rng.choice(sorted(present - {n}))
            (corpus / f"extra-{gone}.md").unlink()
            present.discard(gone)
        expected = {f"Comment obtenir le badge zorglub{k} ?" for k in present}

        child, nxt = nxt, None
        child.go()
        if child.mode == "delay":
            child.wait_for("START")
            time.sleep(rng.uniform(0, 1.1 * build_seconds))
            child.kill()
        nxt = new_child()  # imports while we check
        rc = child.finish()
        killed = rc == -signal.SIGKILL
        assert killed or rc == 0, (child.mode, rc, child.lines, getattr(child, "stderr", ""))
        kills += killed
        live = current_generation(index)
        log.append((child.mode, "killed" if killed else "finished", "published" if live != previous else "not published"))

        # every time: the index opens (every file verified) and answers
        assert_answers(index)
        if live == previous:
            assert _questions(index) == previous_questions
        else:  # killed after the CURRENT swap: the new generation is complete
            published_by_killed += killed
            assert expected <= _questions(index), child.mode

        # and the next build succeeds, with the whole corpus
        report = fake_build(corpus, index)
        assert current_generation(index) == report.generation
        questions = _questions(index)
        assert expected <= questions and not {q for q in questions if "zorglub" in q and q not in expected | {"Comment obtenir le badge zorglub999 ?"}}
        assert_answers(index)
        if report.changed:
            _no_leftovers(index)
    nxt.kill()
    nxt.finish()
    print(f"\nkill-during-build: {kills} kills survived in {attempts} builds (a build takes {build_seconds:.2f} s) "
          f"({published_by_killed} killed after their CURRENT swap); modes: {log}")
    assert kills == KILLS


@pytest.mark.parametrize(
    "mode",
    ["stage:embed", "stage:index", "hook:write_json:3:after", "hook:rename:1:after", "hook:replace:1:before", "hook:replace:1:after",
     "hook:cleanup:1:before"],
)
def test_a_build_killed_at_each_step_of_publishing(tmp_path, child_script, mode):
    """Deterministic companions of the random loop: one kill at each step of the write path."""
    corpus = make_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    first = fake_build(corpus, index).generation
    (corpus / "extra.md").write_text(extra_faq(7), encoding="utf-8")
    child = Child(child_script, corpus, index, mode)
    child.go()
    assert child.finish() == -signal.SIGKILL
    live = current_generation(index)
    assert live == first if mode != "hook:replace:1:after" and not mode.startswith("hook:cleanup") else live != first
    assert_answers(index)
    report = fake_build(corpus, index)
    assert "Comment obtenir le badge zorglub7 ?" in _questions(index)
    assert current_generation(index) == report.generation
    _no_leftovers(index) if report.changed else None


def test_a_killed_first_build_leaves_no_index_and_the_next_build_succeeds(tmp_path, child_script):
    corpus = make_corpus(tmp_path / "corpus")
    index = tmp_path / "index"
    child = Child(child_script, corpus, index, "hook:rename:1:before")
    child.go()
    assert child.finish() == -signal.SIGKILL
    with pytest.raises(IndexMissingError):
        open_index(index)
    fake_build(corpus, index)
    assert_answers(index)
    _no_leftovers(index)


# ----------------------------------------------------------------------------- two builds at once


@pytest.mark.slow
def test_two_builds_started_at_once_run_one_after_the_other_and_never_mix(tmp_path, child_script):
    a = make_corpus(tmp_path / "a", extra=2)
    b = make_corpus(tmp_path / "b", seed=False, fixtures=True)
    (b / "only-b.md").write_text(extra_faq(42), encoding="utf-8")
    index = tmp_path / "index"
    sources = {"a": {p.name for p in a.iterdir() if p.suffix in (".md", ".txt")},
               "b": {p.name for p in b.iterdir() if p.suffix in (".md", ".txt")}}

    stop = threading.Event()
    opens, errors = [0], []
    serialised = [0]

    def reader():  # opens (and verifies) the index over and over while both builds run
        while not stop.is_set():
            try:
                data = open_index(index)
            except IndexMissingError:
                continue
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
                continue
            names = {Path(p).name for p in data.documents}
            if not (names <= sources["a"] or names <= sources["b"]):
                errors.append(f"mixed: {names}")
            opens[0] += 1

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(3):
            children = [Child(child_script, corpus, index, "none") for corpus in (a, b)]
            for c in children:
                c.wait_for("READY")
            for c in children:  # both go at once
                c.proc.stdin.write("go\n")
                c.proc.stdin.flush()
            assert [c.finish() for c in children] == [0, 0], [c.lines for c in children]
            spans = []  # from the first progress call (lock held) to the end, for builds that wrote
            for c in children:
                stages = [float(x.split()[2]) for x in c.lines if x.startswith("STAGE")]
                if stages:
                    spans.append((stages[0], next(float(x.split()[1]) for x in c.lines if x.startswith("DONE"))))
            spans.sort()
            if len(spans) == 2:
                assert spans[0][1] <= spans[1][0], f"the two builds overlapped: {spans}"
                serialised[0] += 1
            names = {Path(p).name for p in open_index(index).documents}
            assert names in (sources["a"], sources["b"])
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:5]
    assert opens[0] > 0 and serialised[0] >= 1  # the first round always has two real builds
    assert_answers(index)


def test_a_second_build_is_refused_or_waits_while_one_holds_the_lock(tmp_path, child_script, monkeypatch):
    a = make_corpus(tmp_path / "a", extra=1)
    b = make_corpus(tmp_path / "b", seed=False, fixtures=True)
    index = tmp_path / "index"
    release = tmp_path / "release"
    holder = Child(child_script, a, index, f"hold:{release}")
    holder.go()
    holder.wait_for("HOLDING")  # the holder is inside build_index, lock taken

    with pytest.raises(BuildLockedError) as err:
        build_index([b], index, embedder=FakeEmbedder(), lock_timeout=0)
    assert "\n" not in str(err.value) and "en cours" in str(err.value)
    t0 = time.monotonic()
    with pytest.raises(BuildLockedError):
        build_index([b], index, embedder=FakeEmbedder(), lock_timeout=0.5)
    assert time.monotonic() - t0 >= 0.45  # it waited before giving up

    import chatkb.embed

    monkeypatch.setattr(chatkb.embed.Embedder, "load", classmethod(lambda cls, model=None, **kw: FakeEmbedder()))
    result = CliRunner().invoke(cli, ["build", str(b), "--index", str(index), "--wait", "0"])
    assert result.exit_code == 7 and result.output.startswith("Erreur : Une autre construction")
    assert len(result.output.strip().splitlines()) == 1

    # a build that waits goes through once the holder is done, and the index is b's, whole
    waiter = threading.Thread(target=lambda: build_index([b], index, embedder=FakeEmbedder(), lock_timeout=60))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # waiting on the lock
    release.touch()
    assert holder.finish() == 0
    waiter.join(60)
    assert not waiter.is_alive()
    names = {Path(p).name for p in open_index(index).documents}
    assert names == {p.name for p in b.iterdir() if p.suffix in (".md", ".txt")}
    assert_answers(index)
