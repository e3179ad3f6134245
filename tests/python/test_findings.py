"""Acceptance test of djtop's N+1 diagnosis (docs/n-plus-one.md) on a real project.

tests/python/diagproj is a small shop whose views each show one shape of docs/n-plus-one.md
(``*_naive``) or its fix (``*_clean``). Every view is requested once under a real runserver
(WSGI) and once under a real uvicorn (ASGI), the shim streaming to a real ``djtop record``;
``djtop report --json`` must then give every request exactly the findings of EXPECTED below.

EXPECTED is the whole contract. Its numbers are facts about the seed data (``manage.py seed``),
not guesses: test_expected_numbers_are_djangos_own measures each view with Django's own
CaptureQueriesContext, without djtop. Lines are not written here: ``callsite`` / ``queryset``
name a marker comment (``# callsite: NAME`` / ``# queryset: NAME``) in diagproj/shop/views.py
and the test reads its line, so the views can be edited freely.
"""

import json
import re
import subprocess
import urllib.error
import urllib.request
from typing import NamedTuple, Optional

import django
import pytest
from e2e_util import (
    HERE,
    Recorder,
    Server,
    djtop_bin,
    manage,
    project_env,
    query_param,
    read_events,
    requests_by_ref,
    wait_for,
)
from e2e_util import markers as read_markers


class Finding(NamedTuple):
    kind: str
    model: Optional[str]
    field: Optional[str]
    queries: int  # how many of the request's queries the finding explains
    callsite: str  # marker NAME of "# callsite: NAME" in shop/views.py
    fix: str  # exact text, per docs/n-plus-one.md
    queryset: Optional[str] = None  # marker NAME of "# queryset: NAME"; None: no queryset


# Fix texts of docs/n-plus-one.md, with the shop's names.
CREATORS = 'Prefetch("tags", queryset=Tag.objects.select_related("created_by"))'
RECENT_BOOKS = (
    'prefetch_related(Prefetch("books", queryset=Book.objects.filter(published__year=2024), '
    'to_attr="filtered_books"))'
)
HAS_BOOKS = 'annotate(Count("books"))'  # then test author.books__count > 0
ONCE = 'Publisher.objects.get(name="P1")  # run once before the loop and reuse the result'

# Seed data: 10 authors (each 1 profile, 3 books, one per year 2022-2024), 30 books,
# 4 publishers P1-P4, 12 articles (2 tags each), 8 tags (each created by its own user).
#
# view name: (SQL statements Django runs for it, not counting BEGIN/COMMIT/SAVEPOINT…,
#             the request's findings in any order)
# Choices where docs/n-plus-one.md leaves one open:
#  - a chain (FK then O2O, or M2M then FK) is ONE finding named by its FIRST hop (model/field),
#    with the fix of the whole path and `queries` counting every query of the chain;
#  - get_per_row / repeated_write / duplicate name the queried model, `field` null, and no
#    queryset (`queryset` null or absent);
#  - `queries` of a duplicate counts every execution (10 identical gets -> 10, not 9);
#  - `callsite` is the innermost line of shop/views.py that ran the queries: in the async
#    canonical case the sync helper run through sync_to_async (`_creator_of`), for an awaited
#    ORM call (aget, acount) the line of the await in the async view;
#  - lazy loads a finding explains are not also a `duplicate`, though they repeat the same
#    query (fk_three_rows, chain, both prefetched_fk: each creator loaded 3 times);
#  - `queryset` is "file:line" like `callsite`: where the queryset the fix goes into was
#    evaluated (for a serializer, its `for` line, not the view that built the queryset).
EXPECTED = {
    "fk_naive": (13, [
        Finding("n_plus_one", "shop.Article", "author", 12, "fk", 'select_related("author")', "fk"),
    ]),
    "fk_clean": (1, []),
    # exactly min_repeats (3) lazy loads: reported; 2: not.
    "fk_three_rows": (4, [
        Finding("n_plus_one", "shop.Book", "author", 3, "three_rows", 'select_related("author")',
                "three_rows"),
    ]),
    "fk_two_rows": (3, []),
    # one object, its author, the author's profile and its publisher: one lazy load each.
    "detail": (4, []),
    # book.author.profile: 30 authors + 30 profiles.
    "chain_naive": (61, [
        Finding("n_plus_one", "shop.Book", "author", 60, "chain",
                'select_related("author__profile")', "chain"),
    ]),
    "chain_clean": (1, []),
    "reverse_fk_naive": (11, [
        Finding("n_plus_one", "shop.Author", "books", 10, "reverse_fk", 'prefetch_related("books")',
                "reverse_fk"),
    ]),
    "reverse_fk_clean": (2, []),
    "m2m_naive": (13, [
        Finding("n_plus_one", "shop.Article", "tags", 12, "m2m", 'prefetch_related("tags")', "m2m"),
    ]),
    "m2m_clean": (2, []),
    # prefetch_related("tags") (2 queries), then tag.created_by on its 24 tag instances.
    "prefetched_fk_naive": (26, [
        Finding("n_plus_one", "shop.Tag", "created_by", 24, "prefetched_fk", CREATORS,
                "prefetched_fk"),
    ]),
    "prefetched_fk_clean": (2, []),
    "async_prefetched_fk_naive": (26, [
        Finding("n_plus_one", "shop.Tag", "created_by", 24, "async_prefetched_fk", CREATORS,
                "async_pf"),
    ]),
    "async_prefetched_fk_clean": (2, []),
    # 12 tag lists + 24 creators, one chain.
    "m2m_then_fk_naive": (37, [
        Finding("n_plus_one", "shop.Article", "tags", 36, "m2m_fk",
                f"prefetch_related({CREATORS})", "m2m_then_fk"),
    ]),
    "m2m_then_fk_clean": (2, []),
    # 1 authors + 1 unused prefetch of all books + 10 filtered lists.
    "filter_prefetched_naive": (12, [
        Finding("n_plus_one", "shop.Author", "books", 10, "filter_prefetched", RECENT_BOOKS,
                "filter_prefetched"),
    ]),
    "filter_unprefetched_naive": (11, [
        Finding("n_plus_one", "shop.Author", "books", 10, "filter_unprefetched", RECENT_BOOKS,
                "filter_unprefetched"),
    ]),
    "filter_clean": (2, []),
    "count_naive": (11, [
        Finding("count_per_row", "shop.Author", "books", 10, "count", 'annotate(Count("books"))',
                "count"),
    ]),
    "count_clean": (1, []),
    "async_count_naive": (11, [
        Finding("count_per_row", "shop.Author", "books", 10, "async_count",
                'annotate(Count("books"))', "async_count"),
    ]),
    "async_count_clean": (1, []),
    "exists_naive": (11, [
        Finding("count_per_row", "shop.Author", "books", 10, "exists", HAS_BOOKS, "exists"),
    ]),
    "exists_clean": (1, []),
    # 1 query for the 10 ids (the 2023 books), then one get per id.
    "get_by_pk_naive": (11, [
        Finding("get_per_row", "shop.Book", None, 10, "get_by_pk", "Book.objects.in_bulk(ids)"),
    ]),
    "get_by_pk_clean": (2, []),
    # In an async view the sync in_bulk would raise SynchronousOnlyOperation.
    "async_get_by_pk_naive": (11, [
        Finding("get_per_row", "shop.Book", None, 10, "async_get_by_pk",
                "await Book.objects.ain_bulk(ids)"),
    ]),
    "async_get_by_pk_clean": (2, []),
    "create_naive": (13, [
        Finding("repeated_write", "shop.Visit", None, 12, "create",
                "Visit.objects.bulk_create([Visit(**row) for row in rows])"),
    ]),
    # SELECT, one INSERT of 12 rows (in a transaction before Django 6.0).
    "create_clean": (2, []),
    # get(name="P1") is not by primary key: a duplicate, not get_per_row.
    "duplicate_naive": (11, [
        Finding("duplicate", "shop.Publisher", None, 10, "duplicate", ONCE),
    ]),
    "duplicate_clean": (2, []),
    # the serializer walks two relations: two findings from one queryset.
    "serializer_naive": (25, [
        Finding("n_plus_one", "shop.Article", "author", 12, "serializer_author",
                'select_related("author")', "serializer"),
        Finding("n_plus_one", "shop.Article", "tags", 12, "serializer_tags",
                'prefetch_related("tags")', "serializer"),
    ]),
    "async_serializer_naive": (25, [
        Finding("n_plus_one", "shop.Article", "author", 12, "serializer_author",
                'select_related("author")', "serializer"),
        Finding("n_plus_one", "shop.Article", "tags", 12, "serializer_tags",
                'prefetch_related("tags")', "serializer"),
    ]),
    "async_serializer_clean": (2, []),
    "deferred_naive": (31, [
        Finding("n_plus_one", "shop.Book", "published", 30, "deferred",
                'only(…, "published")  # or drop "published" from defer()', "deferred"),
    ]),
    "deferred_clean": (1, []),
    # a template walks author and tags: the callsites are its lines, the queryset the view's
    # render line; the project's middleware around it is never blamed.
    "template_naive": (25, [
        Finding("n_plus_one", "shop.Article", "author", 12, "template_author",
                'select_related("author")', "template"),
        Finding("n_plus_one", "shop.Article", "tags", 12, "template_tags",
                'prefetch_related("tags")', "template"),
    ]),
    "template_clean": (2, []),
}  # fmt: skip

# Django 6.1's fetch modes (shop.views.FETCH_MODES): a FETCH_PEERS load is one query for every
# peer, never an N+1; FETCH_RAISE's exception is the app's own.
FETCH_MODES = django.VERSION >= (6, 1)
PEERS = "fetch_mode(models.FETCH_PEERS)"
if FETCH_MODES:
    EXPECTED.update(
        {
            "fk_peers": (2, []),
            "chain_peers": (3, []),  # books, their authors, the authors' profiles
            "deferred_peers": (2, []),
            "fk_raise": (1, []),
        }
    )
# The findings (view, field) whose second fix, on 6.1, is PEERS: a single-valued relation or a
# deferred field, loaded on the rows of a queryset. fk_peers is fk_naive with it pasted.
PEERS_FINDINGS = {
    ("fk_naive", "author"),
    ("fk_three_rows", "author"),
    ("chain_naive", "author"),
    ("deferred_naive", "published"),
    ("serializer_naive", "author"),
    ("async_serializer_naive", "author"),
    ("template_naive", "author"),
}

DIAG = HERE / "diagproj"
VIEWS_PY = DIAG / "shop" / "views.py"
CONTRACT = ("kind", "model", "field", "queries", "callsite", "fix")
MISSING = "<missing>"
TEMPLATES = DIAG / "shop" / "templates"
# Transaction control, left out of the counts: Django versions differ in when they issue it.
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def statements(sqls):
    """How many of `sqls` are not transaction control."""
    return sum(1 for sql in sqls if not sql.startswith(TRANSACTION))


def markers():
    """{("callsite" | "queryset", NAME): "file:line"} of the marker comments in shop/views.py
    (``# callsite: NAME``) and in shop's templates (``{# callsite: NAME #}``)."""
    return read_markers(DIAG, [VIEWS_PY, *sorted(TEMPLATES.rglob("*.html"))])


def expected_findings(view, lines):
    """The findings of `view` as the report must give them (contract keys and `queryset`)."""
    out = []
    for f in EXPECTED[view][1]:
        site = lines[("callsite", f.callsite)]
        queryset = lines[("queryset", f.queryset)] if f.queryset else None
        out.append(
            {
                "kind": f.kind,
                "model": f.model,
                "field": f.field,
                "queries": f.queries,
                "callsite": site,
                "fix": f.fix,
                "queryset": queryset,
            }
        )
    return out


def pick(finding, keys):
    return {k: finding.get(k, MISSING) for k in keys}


def canonical(findings):
    """Findings in a fixed order (the report's order is not part of the contract)."""
    return sorted(findings, key=lambda f: json.dumps(f, sort_keys=True, ensure_ascii=False))


def describe(findings):
    """Findings as readable lines, identical ones counted."""
    counts = {}
    for f in findings:
        line = " ".join(f"{k}={json.dumps(f.get(k, MISSING), ensure_ascii=False)}" for k in f)
        counts[line] = counts.get(line, 0) + 1
    if not counts:
        return ["(none)"]
    return [f"{n} x {line}" if n > 1 else line for line, n in counts.items()]


def expected_requests(run):
    """(ref, view) of the requests sent to a view EXPECTED knows (the others fail
    test_every_view_is_served_and_expected)."""
    return [(ref, view) for ref, (_kind, view) in run["sent"].items() if view in EXPECTED]


def differences(run, report, keys, note=None):
    """Per request whose findings (restricted to `keys`) differ from EXPECTED: what differs."""
    lines = markers()
    problems = {"missing": [], "unexpected": [], "different": []}
    for ref, view in expected_requests(run):
        want = canonical(pick(f, keys) for f in expected_findings(view, lines))
        request = report.get(ref)
        if request is None:
            problems["different"].append(f"{ref}: not in the report")
            continue
        got = canonical(pick(f, keys) for f in request.get("findings", []))
        if got == want:
            continue
        what = "missing" if not got else "unexpected" if not want else "different"
        text = [f"{ref}" + (f" ({note(ref)})" if note else "")]
        text += ["    expected " + line for line in describe(want)]
        text += ["    got      " + line for line in describe(got)]
        problems[what].append("\n".join(text))
    count = sum(len(p) for p in problems.values())
    if not count:
        return None
    out = [f"{count} of {len(run['sent'])} requests differ from EXPECTED"]
    for what, title in (
        ("missing", "no finding where EXPECTED has some"),
        ("unexpected", "findings where EXPECTED has none"),
        ("different", "other findings than EXPECTED"),
    ):
        if problems[what]:
            out.append(f"-- {title} ({len(problems[what])}):")
            out.extend(problems[what])
    return "\n".join(out)


def djtop_report(recording, *args):
    return subprocess.run(
        [djtop_bin(), "report", str(recording), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


# ---- the project, seeded ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def diag(tmp_path_factory):
    """A migrated, seeded database for diagproj, and the environment to run it with."""
    tmp = tmp_path_factory.mktemp("findings")
    env = project_env(DIAG, "diagproj.settings", DIAG_DB=str(tmp / "diag.sqlite3"))
    quiet = dict(env, DJTOP_ENABLED="0")  # no collector for these
    manage(DIAG, quiet, "migrate", "-v0")
    manage(DIAG, quiet, "seed")
    return {"tmp": tmp, "env": env}


def test_markers_and_expectations_agree():
    lines = markers()
    used = set()
    for view, (_total, findings) in EXPECTED.items():
        for f in findings:
            used.add(("callsite", f.callsite))
            assert ("callsite", f.callsite) in lines, f"{view}: no '# callsite: {f.callsite}'"
            if f.queryset:
                used.add(("queryset", f.queryset))
                assert ("queryset", f.queryset) in lines, f"{view}: no '# queryset: {f.queryset}'"
    assert set(lines) == used, f"markers in views.py that no expectation uses: {set(lines) - used}"


def test_expected_numbers_are_djangos_own(diag):
    """Checks EXPECTED itself, without djtop: Django's CaptureQueriesContext counts each view's
    statements, and an execute wrapper counts those run from each line of shop/views.py."""
    counts = json.loads(manage(DIAG, dict(diag["env"], DJTOP_ENABLED="0"), "querycounts"))
    assert set(counts) == set(EXPECTED), "shop.views.VIEWS and EXPECTED list different views"
    lines = markers()
    wrong = []
    for view, (total, findings) in EXPECTED.items():
        measured = counts[view]
        ran = statements(measured["sql"])
        if measured["status"] != 200 or ran != total:
            wrong.append(f"{view}: status {measured['status']}, {ran} statements, not {total}")
        for f in findings:
            line = lines[("callsite", f.callsite)]
            ran = measured["lines"].get(line, 0)
            if ran != f.queries:
                wrong.append(f"{view}: line {line} ({f.callsite}) ran {ran}, not {f.queries}")
    assert not wrong, "\n".join(wrong)


# ---- the real run: runserver and uvicorn, djtop record, djtop report ---------------------------


@pytest.fixture(scope="module")
def run(diag):
    tmp, env = diag["tmp"], diag["env"]
    recording = tmp / "recording.ndjson"
    recorder = Recorder(recording)
    servers = {}
    sent = {}  # t=<ref> -> (server kind, view name)
    statuses = {}
    try:
        for kind in ("wsgi", "asgi"):
            servers[kind] = Server(
                kind,
                tmp,
                recorder.address,
                project=DIAG,
                asgi_app="diagproj.asgi:application",
                env=env,
            )
        with urllib.request.urlopen(servers["wsgi"].base + "/", timeout=30) as r:
            listed = json.loads(r.read())["views"]
        for kind, server in servers.items():
            for view in listed:
                ref = f"{kind}.{view}"
                try:
                    statuses[ref] = server.get(f"/{view}/?t={ref}")
                except urllib.error.HTTPError as e:
                    statuses[ref] = e.code
                sent[ref] = (kind, view)

        def complete():
            by_ref, _ = requests_by_ref(read_events(recording), "t")
            return all(ref in by_ref and "end" in by_ref[ref] for ref in sent)

        wait_for(complete, timeout=60, what="every request's end event in the recording")
    finally:
        logs = {kind: server.stop() for kind, server in servers.items()}
        recorder.stop()
    return {
        "recording": recording,
        "events": read_events(recording),
        "listed": listed,
        "sent": sent,
        "statuses": statuses,
        "logs": logs,
        "json": djtop_report(recording, "--json"),
        "text": djtop_report(recording),
    }


@pytest.fixture(scope="module")
def report(run):
    done = run["json"]
    assert done.returncode == 0, f"djtop report --json exited {done.returncode}: {done.stderr}"
    data = json.loads(done.stdout)
    by_ref = {}
    for request in data["requests"]:
        ref = query_param(request.get("path") or "", "t")
        if ref:
            assert ref not in by_ref, f"two requests in the report for t={ref}"
            by_ref[ref] = request
    return by_ref


def attribution(run, ref):
    """How many of a request's recorded queries carry the shim's `rel` / `orm` fields: tells,
    when a finding is missing, whether the shim or the analysis fell short."""
    by_ref, _ = requests_by_ref(run["events"], "t")
    queries = by_ref[ref]["queries"]
    rel = sum(1 for q in queries if q.get("rel"))
    orm = sum(1 for q in queries if q.get("orm"))
    return f"recorded {len(queries)} queries, {rel} with rel, {orm} with orm"


def test_every_view_is_served_and_expected(run):
    assert set(run["listed"]) == set(EXPECTED), "the index and EXPECTED list different views"
    failed = {ref: status for ref, status in run["statuses"].items() if status != 200}
    assert not failed, f"requests that did not answer 200: {failed}"


def test_recording_has_each_request_with_its_queries(run):
    """The shim's side: every request recorded, ended with 200 and with Django's count."""
    by_ref, _ = requests_by_ref(run["events"], "t")
    wrong = []
    for ref, view in expected_requests(run):
        entry = by_ref[ref]
        total = EXPECTED[view][0]
        ran = statements(q["sql"] for q in entry["queries"])
        if entry["end"]["status"] != 200 or ran != total:
            wrong.append(f"{ref}: status {entry['end']['status']}, {ran} statements, not {total}")
    assert not wrong, "\n".join(wrong)
    dropped = [e["count"] for e in run["events"] if e["type"] == "drops"]
    assert not any(dropped), f"the shim dropped events: {dropped}"


def test_each_request_has_exactly_the_expected_findings(run, report):
    problems = differences(run, report, CONTRACT, note=lambda ref: attribution(run, ref))
    assert not problems, problems


def test_findings_name_the_queryset_to_change(run, report):
    """docs/n-plus-one.md: each finding also names the line where the queryset to change was
    evaluated (`queryset`); null or absent where there is none (get_per_row, writes, dups)."""
    keys = ("kind", "model", "field", "queryset")
    absent_is_null = {
        ref: {**r, "findings": [{"queryset": None, **f} for f in r.get("findings", [])]}
        for ref, r in report.items()
    }
    problems = differences(run, absent_is_null, keys)
    assert not problems, problems


def test_text_report_gives_each_fix(run):
    """`djtop report FILE` shows each request on an unindented line naming its path, its
    findings indented below: every expected fix must be in its request's block."""
    done = run["text"]
    assert done.returncode == 0, f"djtop report exited {done.returncode}: {done.stderr}"
    blocks = {}
    ref = None
    for line in done.stdout.splitlines():
        if line and not line[0].isspace():
            found = re.search(r"[?&]t=([\w.]+)", line)
            ref = found.group(1) if found else None
            if ref:
                blocks[ref] = []
        elif ref:
            blocks[ref].append(line)
    missing = []
    for ref, view in expected_requests(run):
        block = "\n".join(blocks.get(ref, []))
        for f in EXPECTED[view][1]:
            if f.fix not in block:
                missing.append(f"{ref}: {f.fix}")
    assert not missing, "fixes the text report does not show for their request:\n" + "\n".join(
        missing
    )


def test_servers_logged_no_exception(run):
    for kind, log in run["logs"].items():
        assert "Traceback" not in log, f"{kind} log:\n{log}"


def test_fetch_peers_is_a_second_fix_on_django_6_1(report, run):
    """On 6.1 a lazy FK / one-to-one / deferred N+1 also offers fetch_mode(FETCH_PEERS), after
    the select_related / only fix; before 6.1 (no fetch modes) and on other findings, never."""
    wrong = []
    for ref, view in expected_requests(run):
        for f in report[ref].get("findings", []):
            want = [PEERS] if FETCH_MODES and (view, f["field"]) in PEERS_FINDINGS else []
            if f.get("alternatives", []) != want:
                wrong.append(f"{ref}: {f['title']}: {f.get('alternatives')}, not {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.skipif(not FETCH_MODES, reason="fetch modes are new in Django 6.1")
def test_fetch_peers_loads_are_attributed_as_peers(run):
    """The second query of each FETCH_PEERS view loaded every peer's relation at once: the
    shim says so (rel op `peers`), and the report has no finding for it (EXPECTED)."""
    by_ref, _ = requests_by_ref(run["events"], "t")
    want = {
        "fk_peers": [("shop.Article", "author", "fk")],
        "chain_peers": [("shop.Book", "author", "fk"), ("shop.Author", "profile", "reverse_o2o")],
        "deferred_peers": [("shop.Book", "published", "deferred")],
    }
    for kind in ("wsgi", "asgi"):
        for view, rels in want.items():
            queries = by_ref[f"{kind}.{view}"]["queries"]
            got = [
                (q["rel"]["model"], q["rel"]["field"], q["rel"]["kind"])
                for q in queries
                if q.get("rel", {}).get("op") == "peers"
            ]
            assert got == rels, f"{kind}.{view}: {got}"
