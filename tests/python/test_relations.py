"""The `orm` and `rel` fields of query events and `hello.models` (docs/protocol.md, "Relation
and ORM attribution"), on a real Django project: every shape of docs/n-plus-one.md, sync and
under a real ASGI handler, and proof that the hooks change no query and no result."""

import json
import os
import pickle

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from djtop import relations
from djtop_testutil import HERE, asgi_get, bundle, marker_line, read_events, run_python
from shimproj import relviews
from shimproj.models import Article, Author, Book

REL = "shimproj/relviews.py"
RELVIEWS = os.path.join(HERE, REL)
BOOK, AUTHOR, PROFILE = "shimproj.Book", "shimproj.Author", "shimproj.Profile"
ARTICLE, TAG, USER = "shimproj.Article", "shimproj.Tag", "auth.User"


@pytest.fixture(scope="module", autouse=True)
def seeded():
    relviews.seed()
    yield
    relviews.unseed()


def line(name):
    return marker_line(name, RELVIEWS)


def site(name, func):
    return [REL, line(name), func]


def get(path):
    """Request a /rel/ view (async ones through the real ASGI handler): its query events."""
    name = path.strip("/").split("/")[1]
    if name.startswith("async"):
        status, _ = asgi_get(path)
    else:
        status = Client().get(path).status_code
    assert status == 200
    _, queries, end, _ = bundle(read_events(), path)
    assert end is not None and end["status"] == 200
    return queries


def queryset_origin(model, marker, func, rows, qid):
    return {"how": "queryset", "model": model, "site": site(marker, func), "rows": rows, "qid": qid}


def ids(model):
    return list(model.objects.order_by("id").values_list("id", flat=True))


def test_hello_names_every_models_table():
    (hello,) = [e for e in read_events() if e["type"] == "hello"]
    models = hello["models"]
    assert models["shimproj_book"] == BOOK
    assert models["shimproj_article_tags"] == "shimproj.Article_tags"  # M2M through table
    assert models["auth_user"] == USER
    assert models["django_content_type"] == "contenttypes.ContentType"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in models.items())


def test_forward_fk_per_row():
    first, *loads = get("/rel/fk/?t=1")
    assert first["orm"] == {"model": BOOK, "op": "iterate", "lookups": {}}
    assert "rel" not in first
    origin = queryset_origin(BOOK, "fk_loop", "fk", len(ids(Book)), first["qid"])
    assert len(loads) == len(ids(Book))
    for query in loads:
        assert query["stack"][0] == site("fk_access", "fk")
        assert "orm" not in query  # Django's own get(): not a public call
        assert query["rel"] == {
            "model": BOOK,
            "field": "author",
            "kind": "fk",
            "target": AUTHOR,
            "op": "load",
            "origin": origin,
        }


def test_chain_fk_then_reverse_one_to_one():
    first, *rest = get("/rel/chain/?t=1")
    origin = queryset_origin(BOOK, "chain_loop", "chain", len(ids(Book)), first["qid"])
    assert len(rest) == 2 * len(ids(Book))
    for author_load, profile_load in zip(rest[::2], rest[1::2]):
        assert author_load["rel"]["field"] == "author"
        assert author_load["rel"]["origin"] == origin
        assert profile_load["rel"] == {
            "model": AUTHOR,
            "field": "profile",
            "kind": "reverse_o2o",
            "target": PROFILE,
            "op": "load",
            "origin": {"how": "lazy", "model": BOOK, "field": "author", "origin": origin},
        }


def test_reverse_fk_per_row():
    first, *loads = get("/rel/reverse_fk/?t=1")
    origin = queryset_origin(AUTHOR, "reverse_fk_loop", "reverse_fk", 3, first["qid"])
    assert [q["orm"] for q in loads] == [
        {"model": BOOK, "op": "iterate", "lookups": {"author": pk}} for pk in ids(Author)
    ]
    for query in loads:
        assert query["rel"] == {
            "model": AUTHOR,
            "field": "books",
            "kind": "reverse_fk",
            "target": BOOK,
            "op": "all",
            "origin": origin,
        }


def test_m2m_per_row():
    first, *loads = get("/rel/m2m/?t=1")
    origin = queryset_origin(ARTICLE, "m2m_loop", "m2m", 3, first["qid"])
    assert [q["orm"] for q in loads] == [
        {"model": TAG, "op": "iterate", "lookups": {"articles__id": pk}} for pk in ids(Article)
    ]
    for query in loads:
        assert query["stack"][0] == site("m2m_access", "m2m")
        assert query["rel"] == {
            "model": ARTICLE,
            "field": "tags",
            "kind": "m2m",
            "target": TAG,
            "op": "all",
            "origin": origin,
        }


def test_fk_on_prefetched_instances():
    first, prefetch, *loads = get("/rel/prefetched_fk/?t=1")
    assert first["orm"] == {"model": ARTICLE, "op": "iterate", "lookups": {}}
    assert "rel" not in prefetch  # the prefetch query runs inside the evaluation
    origin = queryset_origin(ARTICLE, "pf_loop", "prefetched_fk", 3, first["qid"])
    assert len(loads) == 6  # two tags per article, each tag instance its own
    for query in loads:
        assert query["stack"][0] == site("pf_access", "prefetched_fk")
        assert query["rel"] == {
            "model": TAG,
            "field": "created_by",
            "kind": "fk",
            "target": USER,
            "op": "load",
            "origin": {"how": "prefetch", "model": ARTICLE, "field": "tags", "origin": origin},
        }


def test_m2m_then_fk_without_prefetch():
    first, *rest = get("/rel/m2m_then_fk/?t=1")
    origin = queryset_origin(ARTICLE, "m2m_fk_loop", "m2m_then_fk", 3, first["qid"])
    m2m = [q for q in rest if q["rel"]["kind"] == "m2m"]
    fks = [q for q in rest if q["rel"]["kind"] == "fk"]
    assert len(m2m) == 3 and len(fks) == 6
    assert all(q["rel"]["origin"] == origin for q in m2m)
    for query in fks:
        assert query["rel"] == {
            "model": TAG,
            "field": "created_by",
            "kind": "fk",
            "target": USER,
            "op": "load",
            "origin": {"how": "lazy", "model": ARTICLE, "field": "tags", "origin": origin},
        }


@pytest.mark.parametrize("view, op", [("count", "count"), ("exists", "exists")])
def test_count_and_exists_per_row(view, op):
    first, *loads = get(f"/rel/{view}/?t=1")
    origin = queryset_origin(AUTHOR, f"{view}_loop", view, 3, first["qid"])
    assert [q["orm"] for q in loads] == [
        {"model": BOOK, "op": op, "lookups": {"author": pk}} for pk in ids(Author)
    ]
    for query in loads:
        assert query["stack"][0] == site(f"{view}_access", view)
        assert query["rel"] == {
            "model": AUTHOR,
            "field": "books",
            "kind": "reverse_fk",
            "target": BOOK,
            "op": op,
            "origin": origin,
        }


def test_m2m_count_per_row():
    """Django 5+ counts on the through table alone; the op is the same."""
    first, *loads = get("/rel/m2m_count/?t=1")
    origin = queryset_origin(ARTICLE, "m2m_count_loop", "m2m_count", 3, first["qid"])
    assert len(loads) == 3
    for query in loads:
        assert query["rel"] == {
            "model": ARTICLE,
            "field": "tags",
            "kind": "m2m",
            "target": TAG,
            "op": "count",
            "origin": origin,
        }
        assert query["orm"]["model"] == TAG and query["orm"]["op"] == "count"


def test_filter_on_a_prefetched_relation():
    first, prefetch, *loads = get("/rel/filter_prefetched/?t=1")
    assert prefetch["orm"] == {"model": AUTHOR, "op": "iterate", "lookups": {}}
    origin = queryset_origin(AUTHOR, "filter_loop", "filter_prefetched", 3, first["qid"])
    assert len(loads) == 3  # len(author.books.all()) is served by the cache
    for pk, query in zip(ids(Author), loads):
        assert query["stack"][0] == site("filter_access", "filter_prefetched")
        assert query["orm"] == {
            "model": BOOK,
            "op": "iterate",
            "lookups": {"author": pk, "published__year": 2024},
        }
        assert query["rel"] == {
            "model": AUTHOR,
            "field": "books",
            "kind": "reverse_fk",
            "target": BOOK,
            "op": "filter",
            "lookups": {"published__year": 2024},
            "prefetched": True,
            "origin": origin,
        }


def test_get_by_pk_in_a_loop():
    first, *gets = get("/rel/get_by_pk/?t=1")
    assert first["orm"] == {"model": BOOK, "op": "iterate", "lookups": {}}
    assert [q["orm"] for q in gets] == [
        {"model": BOOK, "op": "get", "lookups": {"pk": pk}} for pk in ids(Book)
    ]
    assert all("rel" not in q and q["stack"][0][1] == line("get_loop") for q in gets)


def test_create_in_a_loop():
    queries = get("/rel/create/?t=1")
    inserts = [q for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 3
    for query in inserts:
        assert query["orm"] == {"model": "shimproj.Publisher", "op": "create"}
        assert query["stack"][0][1] == line("create_loop")
    deletes = [q for q in queries if q["stack"][0][1] == line("create_cleanup")]
    assert deletes and all(
        q["orm"] == {"model": "shimproj.Publisher", "op": "delete"} for q in deletes
    )


def test_lazy_fk_on_select_related_instances():
    first, *loads = get("/rel/select_related/?t=1")
    origin = queryset_origin(BOOK, "sr_loop", "select_related", len(ids(Book)), first["qid"])
    assert len(loads) == len(ids(Book))
    for query in loads:
        assert query["rel"] == {
            "model": "shimproj.Publisher",
            "field": "owner",
            "kind": "fk",
            "target": USER,
            "op": "load",
            "origin": {
                "how": "select_related",
                "model": BOOK,
                "field": "publisher",
                "origin": origin,
            },
        }


def test_single_object_lazy_load_has_a_get_origin():
    first, load = get("/rel/single/?t=1")
    assert first["orm"] == {"model": BOOK, "op": "get", "lookups": {"title": "Ann 0"}}
    assert load["rel"] == {
        "model": BOOK,
        "field": "author",
        "kind": "fk",
        "target": AUTHOR,
        "op": "load",
        "origin": {"how": "get", "model": BOOK, "site": site("single_get", "single")},
    }


def test_prefetch_to_attr():
    first, _, *loads = get("/rel/prefetch_to_attr/?t=1")
    origin = queryset_origin(AUTHOR, "to_attr_loop", "prefetch_to_attr", 3, first["qid"])
    assert len(loads) == len(ids(Book))
    for query in loads:
        assert query["rel"]["field"] == "publisher"
        assert query["rel"]["origin"] == {
            "how": "prefetch",
            "model": AUTHOR,
            "field": "books",
            "to_attr": "listed",
            "origin": origin,
        }


def test_deferred_field():
    first, *loads = get("/rel/deferred/?t=1")
    origin = queryset_origin(BOOK, "deferred_loop", "deferred", len(ids(Book)), first["qid"])
    assert len(loads) == len(ids(Book))
    for query in loads:
        assert "orm" not in query
        assert query["rel"] == {
            "model": BOOK,
            "field": "title",
            "kind": "deferred",
            "target": BOOK,
            "op": "load",
            "origin": origin,
        }


def test_generic_foreign_key_and_generic_relation():
    queries = get("/rel/generic/?t=1")
    gfk = [q for q in queries if q["stack"][0][1] == line("gfk_access")]
    grel = [q for q in queries if q["stack"][0][1] == line("grel_access")]
    assert len(gfk) == 3 and len(grel) == 3
    for query in gfk:
        assert {k: v for k, v in query["rel"].items() if k != "origin"} == {
            "model": "shimproj.Comment",
            "field": "target",
            "kind": "generic",
            "target": ARTICLE,
            "op": "load",
        }
        assert query["rel"]["origin"]["site"] == site("gfk_loop", "generic")
    for query in grel:
        assert {k: v for k, v in query["rel"].items() if k != "origin"} == {
            "model": ARTICLE,
            "field": "comments",
            "kind": "generic",
            "target": "shimproj.Comment",
            "op": "all",
        }
        assert query["rel"]["origin"]["site"] == site("grel_loop", "generic")


def test_iterator():
    first, *loads = get("/rel/iterator/?t=1")
    assert first["orm"] == {"model": BOOK, "op": "iterate", "lookups": {}}
    for query in loads:
        origin = query["rel"]["origin"]
        # rows counts as the rows arrive: known to be > 1 from the second one on
        assert origin.pop("rows") >= 1
        assert origin == {
            "how": "queryset",
            "model": BOOK,
            "site": site("iterator_loop", "iterator"),
            "qid": first["qid"],
        }
    assert len(loads) == len(ids(Book))


# -- async views, under Django's real ASGI handler ---------------------------------------------


def test_async_for_then_lazy_loads_in_sync_to_async():
    first, *loads = get("/rel/async_fk/?t=1")
    assert first["orm"] == {"model": BOOK, "op": "iterate", "lookups": {}}
    assert first["stack"][0] == site("async_loop", "async_fk")
    origin = queryset_origin(BOOK, "async_loop", "async_fk", len(ids(Book)), first["qid"])
    assert len(loads) == len(ids(Book))
    for query in loads:
        assert query["stack"][0] == site("helper_lazy", "_author_name")
        assert query["rel"] == {
            "model": BOOK,
            "field": "author",
            "kind": "fk",
            "target": AUTHOR,
            "op": "load",
            "origin": origin,
        }


def test_aget_in_a_loop():
    first, *gets = get("/rel/async_get/?t=1")
    assert first["orm"] == {"model": BOOK, "op": "iterate", "lookups": {}}
    assert [q["orm"] for q in gets] == [
        {"model": BOOK, "op": "get", "lookups": {"pk": pk}} for pk in ids(Book)
    ]
    assert all(q["stack"][0] == site("aget_loop", "async_get") for q in gets)


def test_acount_per_row():
    first, *counts = get("/rel/async_count/?t=1")
    origin = queryset_origin(AUTHOR, "acount_loop", "async_count", 3, first["qid"])
    assert len(counts) == 3
    for pk, query in zip(ids(Author), counts):
        assert query["stack"][0] == site("acount_access", "async_count")
        assert query["orm"] == {"model": BOOK, "op": "count", "lookups": {"author": pk}}
        assert query["rel"] == {
            "model": AUTHOR,
            "field": "books",
            "kind": "reverse_fk",
            "target": BOOK,
            "op": "count",
            "origin": origin,
        }


def test_aiterator():
    first, *loads = get("/rel/async_iterator/?t=1")
    assert first["orm"] == {"model": BOOK, "op": "iterate", "lookups": {}}
    assert len(loads) == len(ids(Book))
    for query in loads:
        origin = query["rel"]["origin"]
        assert origin["how"] == "queryset" and origin["qid"] == first["qid"]
        assert origin["site"] == site("aiterator_loop", "async_iterator")


# -- what the hooks must not do ---------------------------------------------------------------

WORKLOAD = r"""
import json
import django

django.setup()
from django.core.management import call_command

for alias in ("default", "other"):
    call_command("migrate", run_syncdb=True, database=alias, verbosity=0)
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djtop import relations, transport
from shimproj import relviews
from shimproj.models import Author, Book

for name in ("Ann", "Bob", "Cid"):
    author = Author.objects.create(name=name)
    for n in range(2):
        Book.objects.create(title=f"{name} {n}", author=author, price="9.50")
relviews.seed()
with CaptureQueriesContext(connection) as captured:
    out = relviews.workload()
print(json.dumps({
    "hooked": relations.installed(),
    "sql": [q["sql"] for q in captured.captured_queries],
    "out": out,
}, default=str))
"""


def run_workload(tmp_path, name, env):
    db_dir = tmp_path / name
    db_dir.mkdir()
    env = dict(env, SHIMPROJ_DB_DIR=str(db_dir), DJTOP_RECORD=str(db_dir / "rec.ndjson"))
    proc = run_python(WORKLOAD, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1]), db_dir / "rec.ndjson"


def test_hooks_change_no_query_and_no_result(tmp_path):
    on, record = run_workload(tmp_path, "on", {"DJTOP_ENABLED": "1"})
    off, _ = run_workload(tmp_path, "off", {"DJTOP_ENABLED": "0"})
    bare, _ = run_workload(tmp_path, "bare", {"SHIMPROJ_DJTOP": '{"relations": false}'})
    assert on["hooked"] is True and off["hooked"] is False and bare["hooked"] is False
    assert len(on["sql"]) > 100
    assert on["sql"] == off["sql"] == bare["sql"]
    assert on["out"] == off["out"] == bare["out"]
    events = read_events(str(record), flush=False)
    assert sum(1 for e in events if e.get("rel")) > 50


def test_relations_off_sends_no_orm_or_rel(tmp_path):
    _, record = run_workload(tmp_path, "bare", {"SHIMPROJ_DJTOP": '{"relations": false}'})
    events = read_events(str(record), flush=False)
    queries = [e for e in events if e["type"] == "query"]
    assert len(queries) > 100
    assert not [e for e in queries if "orm" in e or "rel" in e]
    assert events[0]["models"]["shimproj_book"] == BOOK


def test_install_is_idempotent():
    from django.db.models import QuerySet

    get_before = QuerySet.get
    assert relations.install() is True
    assert QuerySet.get is get_before
    assert QuerySet.get.__wrapped__.__name__ == "get"
    assert not hasattr(QuerySet.get.__wrapped__, "__wrapped__")
    assert QuerySet.delete.alters_data is True and QuerySet.delete.queryset_only is True


def test_origins_nest_at_most_five_deep():
    origin = relations.UNKNOWN
    origin = {"how": "queryset", "model": "m"}
    for n in range(8):
        origin = relations._child("lazy", "m", f"f{n}", origin)
        depth, node = 1, origin
        while "origin" in node:
            node, depth = node["origin"], depth + 1
        assert depth <= 5
    assert node == {"how": "unknown"}
    assert origin["field"] == "f7" and origin["origin"]["field"] == "f6"


def test_lookups_are_json_safe_and_never_query():
    from django.db.models import F, Q

    author = Author.objects.get(name="Ann")
    with CaptureQueriesContext(connection) as captured:
        safe = relations._safe_lookups
        assert safe({"author": author, "pk__in": (3, 1), "id__in": {2, 1}}) == {
            "author": author.pk,
            "pk__in": [3, 1],
            "id__in": [1, 2],
        }
        assert safe({"author__in": Author.objects.all()}) is None  # repr() would query
        assert safe({"price": F("id")}) is None
        assert safe({"x": Q(a=1)}) is None
    assert captured.captured_queries == []
    first = Book.objects.filter(author=author).exclude(title="x")
    with CaptureQueriesContext(connection):
        list(first)
    (query,) = [e for e in read_events() if e.get("type") == "query"][-1:]
    assert query["orm"] == {"model": BOOK, "op": "iterate"}  # exclude(): not simple


def test_origin_survives_copies_not_pickles():
    book = Book.objects.order_by("id").first()
    assert relations.origin_of(book)["how"] == "get"
    assert relations.origin_of(pickle.loads(pickle.dumps(book))) is relations.UNKNOWN
    qs = Author.objects.get(name="Ann").books.filter(title="Ann 0")
    assert list(pickle.loads(pickle.dumps(qs))) == list(qs)


def test_related_manager_writes_are_not_lazy_loads():
    article = Article.objects.order_by("id").first()
    tags = list(article.tags.all())
    before = len(read_events())
    article.tags.set(tags[:1])
    article.tags.add(*tags)
    new = [e for e in read_events()[before:] if e["type"] == "query"]
    assert new and not [e for e in new if "rel" in e]
    assert sorted(t.pk for t in article.tags.all()) == sorted(t.pk for t in tags)


def test_failing_bookkeeping_never_reaches_the_app(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("djtop bookkeeping failed")

    expected = Client().get("/rel/chain/?t=before-boom").json()
    monkeypatch.setattr(relations, "_label", boom)
    monkeypatch.setattr(relations, "_child", boom)
    views = ("chain", "reverse_fk", "prefetched_fk", "select_related", "m2m_count")
    # With the label cache warm, the hot paths (_enter_queryset, ModelIterable's hook) pass
    # and the helpers behind them fail (select_related's populators, the lazy origins)...
    for view in views:
        assert Client().get(f"/rel/{view}/?t=boom-warm").status_code == 200
    # ...and with it empty, the hot paths fail too.
    monkeypatch.setattr(relations, "_labels", {})
    for view in views:
        assert Client().get(f"/rel/{view}/?t=boom").status_code == 200
    assert Client().get("/rel/chain/?t=after-boom").json() == expected
    _, queries, _, _ = bundle(read_events(), "/rel/chain/?t=after-boom")
    assert queries and not [q for q in queries if "orm" in q or "rel" in q]


def test_writes_through_a_related_manager_name_the_write():
    author = Author.objects.order_by("id").first()
    before = len(read_events())
    author.books.filter(title="no such title").update(price="1.00")
    (query,) = [e for e in read_events()[before:] if e["type"] == "query"]
    assert query["orm"] == {"model": BOOK, "op": "update"} and "rel" not in query


def test_uninstall_restores_django_and_install_hooks_again():
    from django.db.models import QuerySet
    from django.db.models.sql import Query
    from djtop import capture

    manager_cls = type(Author.objects.order_by("id").first().books)
    hooked_get, hooked_manager_qs = QuerySet.get, manager_cls.get_queryset
    relations.uninstall()
    try:
        assert QuerySet.get is hooked_get.__wrapped__ and "_djtop" not in Query.__dict__
        assert manager_cls.get_queryset is hooked_manager_qs.__wrapped__
        assert not relations.installed()
        assert Client().get("/rel/reverse_fk/?t=uninstalled").status_code == 200
    finally:
        assert relations.install() is True
        capture._relations = relations
    assert type(Author.objects.first().books).get_queryset is not hooked_manager_qs.__wrapped__
    _, queries, _, _ = bundle(read_events(), "/rel/reverse_fk/?t=uninstalled")
    assert not [q for q in queries if "orm" in q or "rel" in q]
    assert all(q.get("rel") for q in get("/rel/reverse_fk/?t=reinstalled")[1:])
