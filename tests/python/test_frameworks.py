"""Fixes where the user pastes them: the N+1s a framework's loop fires (docs/n-plus-one.md,
"The admin, Django REST framework, class-based views and templates").

tests/python/frameproj has a Django admin changelist, a DRF viewset with nested serializers
and a generic ListView whose template walks the relations; each naive page has a clean twin
that is the naive one with djtop's merged fix pasted. A middleware of the project's own sits
around every page. Each page is requested once under a real runserver (WSGI) and once under
uvicorn (ASGI), the shim streaming to a real ``djtop record``; ``djtop report --json`` must
give each page exactly the findings below: the owner (class and line), the user's line that
fired the queries (never Django's, DRF's or the middleware's), the fix in the owner's idiom and
the merged fix, which the clean twin pastes and which runs clean.

Lines are not written here: ``# owner: NAME`` / ``# callsite: NAME`` / ``# queryset: NAME``
markers in frameproj's files (``{# callsite: NAME #}`` in templates) name them.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
from e2e_util import HERE, Recorder, Server, djtop_bin, manage, project_env, wait_for
from e2e_util import markers as read_markers

FRAME = HERE / "frameproj"
LIBRARY = "/library/"  # libloop's own loop (frameproj/libs/site-packages/libloop)
COUNT_NOTE = "  # then read obj.reviews__count instead of .count()"
PATH = 'select_related("author__publisher")'

# page: (owner kind, owner class, owner marker, queryset marker, findings, merged fix, clean)
#   findings: (kind, model, field, queries, callsite marker, fix)
#   clean: the clean twin's page and the file and class whose source pastes the merged fix
EXPECTED = {
    "/admin/catalog/book/": (
        "admin", "catalog.admin.BookAdmin", "book_admin", "book_admin",
        [
            ("n_plus_one", "catalog.Book", "author", 24, "admin_publisher",
             f"list_select_related = [{PATH[15:-1]}]"),
            ("n_plus_one", "catalog.Book", "tags", 12, "admin_tags",
             'def get_queryset(self, request): return super().get_queryset(request)'
             '.prefetch_related("tags")'),
            ("count_per_row", "catalog.Book", "reviews", 12, "admin_reviews",
             'def get_queryset(self, request): return super().get_queryset(request)'
             '.annotate(Count("reviews"))' + COUNT_NOTE),
        ],
        'def get_queryset(self, request): return super().get_queryset(request)'
        f'.{PATH}.prefetch_related("tags").annotate(Count("reviews")){COUNT_NOTE}',
        ("/admin/catalog/cleanbook/", "catalog/admin.py", "CleanBookAdmin"),
    ),
    "/api/books/": (
        "drf", "catalog.api.BookViewSet", "book_viewset", "book_viewset",
        [
            ("n_plus_one", "catalog.Book", "author", 24, "api_author",
             f"queryset = Book.objects.{PATH}"),
            ("n_plus_one", "catalog.Book", "tags", 12, "api_tags",
             'queryset = Book.objects.prefetch_related("tags")'),
            # a nested reverse ForeignKey, many=True
            ("n_plus_one", "catalog.Book", "reviews", 12, "api_reviews_list",
             'queryset = Book.objects.prefetch_related("reviews")'),
            ("count_per_row", "catalog.Book", "reviews", 12, "api_reviews",
             'queryset = Book.objects.annotate(Count("reviews"))' + COUNT_NOTE),
        ],
        f'queryset = Book.objects.{PATH}.prefetch_related("tags", "reviews")'
        f'.annotate(Count("reviews")){COUNT_NOTE}',
        ("/api/clean-books/", "catalog/api.py", "CleanBookViewSet"),
    ),
    # DRF's default PrimaryKeyRelatedField(many=True): one finding, no merged fix; the clean
    # twin pastes the finding's own fix.
    "/api/book-tag-ids/": (
        "drf", "catalog.api.BookTagIdsViewSet", "tag_ids_viewset", "tag_ids_viewset",
        [
            ("n_plus_one", "catalog.Book", "tags", 12, "api_tag_ids",
             'queryset = Book.objects.prefetch_related("tags")'),
        ],
        None,
        ("/api/clean-book-tag-ids/", "catalog/api.py", "CleanBookTagIdsViewSet"),
    ),
    "/books/": (
        "view", "catalog.views.BookList", "book_list", "book_list",
        [
            ("n_plus_one", "catalog.Book", "author", 12, "list_author",
             'queryset = Book.objects.select_related("author")'),
            ("n_plus_one", "catalog.Book", "tags", 12, "list_tags",
             'queryset = Book.objects.prefetch_related("tags")'),
            ("count_per_row", "catalog.Book", "reviews", 12, "list_reviews",
             'queryset = Book.objects.annotate(Count("reviews"))' + COUNT_NOTE),
        ],
        'queryset = Book.objects.select_related("author").prefetch_related("tags")'
        f'.annotate(Count("reviews")){COUNT_NOTE}',
        ("/clean-books/", "catalog/views.py", "CleanBookList"),
    ),
}  # fmt: skip


def markers():
    """{(kind, NAME): "file:line"} of the markers in frameproj's catalog app."""
    catalog = FRAME / "catalog"
    return read_markers(FRAME, sorted([*catalog.glob("*.py"), *catalog.rglob("*.html")]))


def expected(page):
    kind, cls, owner, queryset, findings, _merged, _clean = EXPECTED[page]
    lines = markers()
    return sorted(
        (
            {
                "kind": k,
                "model": model,
                "field": field,
                "queries": queries,
                "callsite": lines[("callsite", callsite)],
                # the admin declares no list_select_related: its class line
                "queryset": lines.get(("queryset", queryset)) or lines[("owner", queryset)],
                "fix": fix,
                "owner": {"kind": kind, "class": cls, "site": lines[("owner", owner)]},
            }
            for k, model, field, queries, callsite, fix in findings
        ),
        key=lambda f: f["callsite"],
    )


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("frameworks")
    env = project_env(FRAME, "frameproj.settings", FRAME_DB=str(tmp / "frame.sqlite3"))
    quiet = dict(env, DJTOP_ENABLED="0")
    manage(FRAME, quiet, "migrate", "-v0")
    session = manage(FRAME, quiet, "seed").strip()
    counts = json.loads(manage(FRAME, quiet, "querycounts", session))
    return {"tmp": tmp, "env": env, "session": session, "counts": counts}


@pytest.fixture(scope="module")
def run(frame):
    tmp, env = frame["tmp"], frame["env"]
    recording = tmp / "recording.ndjson"
    recorder = Recorder(recording)
    servers = {}
    statuses = {}
    pages = [page for naive, (*_, clean) in EXPECTED.items() for page in (naive, clean[0])]
    pages.append(LIBRARY)
    cookie = {"Cookie": f"sessionid={frame['session']}"}
    try:
        for kind in ("wsgi", "asgi"):
            servers[kind] = Server(
                kind, tmp, recorder.address, project=FRAME,
                asgi_app="frameproj.asgi:application", env=env,
            )  # fmt: skip
            for page in pages:
                statuses[(kind, page)] = servers[kind].get(page, headers=cookie)
        pids = {server.proc.pid: kind for kind, server in servers.items()}

        def report():
            done = subprocess.run(
                [djtop_bin(), "report", str(recording), "--json"], capture_output=True, text=True
            )
            if done.returncode != 0:
                return None
            data = json.loads(done.stdout)
            got = {
                (pids.get(r["pid"]), r["path"]): r
                for r in data["requests"]
                if r["method"] and r["path"] in pages and r["status"] is not None
            }
            return got if len(got) == 2 * len(pages) else None

        wait_for(lambda: report() is not None, timeout=60, what="every page in the recording")
        by_page = report()
    finally:
        logs = {kind: server.stop() for kind, server in servers.items()}
        recorder.stop()
    return {"statuses": statuses, "report": by_page, "logs": logs, "recording": recording}


def test_every_page_answers_and_the_servers_log_no_exception(run):
    assert all(status == 200 for status in run["statuses"].values()), run["statuses"]
    for kind, log in run["logs"].items():
        assert "Traceback" not in log, f"{kind}:\n{log}"


def test_query_counts_are_djangos_own(run, frame):
    """Every page's statements as Django's CaptureQueriesContext counts them, without djtop."""
    wrong = []
    for (kind, page), request in run["report"].items():
        want = frame["counts"][page]["total"]
        if request["query_count"] != want:
            wrong.append(f"{kind} {page}: {request['query_count']} recorded, Django ran {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_each_finding_names_its_owner_line_and_fix(run, page):
    keys = ("kind", "model", "field", "queries", "callsite", "queryset", "fix", "owner")
    want = expected(page)
    for kind in ("wsgi", "asgi"):
        got = sorted(
            (
                {
                    **{k: f.get(k) for k in keys},
                    "owner": {k: (f.get("owner") or {}).get(k) for k in ("kind", "class", "site")},
                }
                for f in run["report"][(kind, page)]["findings"]
            ),
            key=lambda f: f["callsite"] or "",
        )
        assert got == want, f"{kind} {page}"


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_one_merged_fix_per_page_and_its_clean_twin_pastes_it(run, page):
    """The merged fix fixes the page's findings at once; the clean twin is the naive page with
    it pasted (its expression is in the twin's class), and every query it explained is gone."""
    *_, findings, merged, (clean_page, clean_file, clean_class) = EXPECTED[page]
    code = (merged or findings[0][-1]).split("  #")[0]
    for kind in ("wsgi", "asgi"):
        fixes = run["report"][(kind, page)]["merged_fixes"]
        if merged is None:  # one finding: its own fix is the whole fix
            assert fixes == []
        else:
            every = list(range(len(findings)))
            assert [(m["fix"], sorted(m["findings"])) for m in fixes] == [(merged, every)]
        clean = run["report"][(kind, clean_page)]
        assert clean["findings"] == [] and clean["merged_fixes"] == [], clean
        # Every query the findings explained is gone; each prefetch_related lookup adds one.
        naive = run["report"][(kind, page)]
        explained = sum(f["queries"] for f in naive["findings"])
        prefetches = sum(
            len(re.findall(r'"[^"]+"', args))
            for args in re.findall(r"prefetch_related\(([^)]*)\)", code)
        )
        assert clean["query_count"] == naive["query_count"] - explained + prefetches, clean
    expression = code.split("return ", 1)[1] if "return " in code else code.split(" = ", 1)[1]
    source = _class_source(FRAME / clean_file, clean_class)
    assert re.sub(r"[\s()]", "", expression) in re.sub(r"[\s()]", "", source), source


def _class_source(path: Path, name: str) -> str:
    text = path.read_text()
    start = text.index(f"class {name}(")
    end = text.find("\nclass ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_a_library_loop_is_said_to_be_the_librarys_and_fails_check_only_when_asked(run, tmp_path):
    """libloop (under a site-packages path) builds a queryset and reads a relation per row: the
    finding says so (``library``), points at the user's nearest line (the call into it), has
    no owner, and `djtop check` lists it as the library's: exit 0, 1 with --include-libraries."""
    line = markers()[("callsite", "library")]
    for kind in ("wsgi", "asgi"):
        findings = run["report"][(kind, LIBRARY)]["findings"]
        got = [
            {k: f.get(k) for k in ("kind", "model", "field", "queries", "callsite", "library")}
            for f in findings
        ]
        assert got == [
            {
                "kind": "n_plus_one",
                "model": "catalog.Book",
                "field": "author",
                "queries": 12,
                "callsite": line,
                "library": "libloop",
            }
        ], f"{kind}: {findings}"
        assert "owner" not in findings[0]
    # A recording of the library page and the clean pages only.
    keep = {run["report"][(k, p)]["id"] for k in ("wsgi", "asgi") for p in (LIBRARY,)}
    keep |= {
        run["report"][(k, e[-1][0])]["id"] for k in ("wsgi", "asgi") for e in EXPECTED.values()
    }
    part = tmp_path / "library.ndjson"
    with open(part, "w") as out:
        for text in run["recording"].read_text().splitlines():
            event = json.loads(text)
            if event["type"] not in ("request", "end", "query") or event["rid"] in keep:
                out.write(text + "\n")

    def check(*args):
        return subprocess.run(
            [djtop_bin(), "check", str(part), *args], capture_output=True, text=True
        )

    done = check()
    assert done.returncode == 0, done.stdout + done.stderr
    done = check("--include-libraries")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("N+1: Book.author loaded once per row: 12 queries") == 2
