"""Query-count tests for the demo views: ``manage.py test blog``.

Every naive/fixed pair is pinned to exact counts with the seed data and again after ``grow()``
adds rows: a naive count grows with the rows, a fixed count stays the same small constant.
Async views go through ``AsyncClient``. The framework pages of ``catalog.PAGES`` (the admin,
the DRF API, a generic ListView) are pinned the same way (``PagesTests``).
"""

import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client, LiveServerTestCase, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from . import seed as seed_module
from .catalog import PAGES, ROUTES, entries, pages
from .models import Article, Author, Book, Profile, Publisher, Tag, Visit
from .querycount import afetch, fetch
from .seed import seed

# pair -> (naive with seed data, fixed with seed data, naive after grow(), fixed after grow())
SYNC_PAIRS = {
    "articles_authors": (31, 1, 41, 1),
    "books_author_profile": (121, 1, 151, 1),
    "authors_books": (21, 2, 26, 2),
    "articles_tags": (31, 2, 41, 2),
    "tag_creators": (92, 2, 122, 2),
    "authors_book_count": (21, 1, 26, 1),
    "authors_recent_books": (22, 2, 27, 2),
    "authors_recent_publishers": (22, 2, 27, 2),
    "authors_house_publisher": (21, 2, 26, 2),
    "template_articles": (61, 2, 81, 2),
    "stream_authors": (21, 2, 26, 2),
    "serializer": (91, 2, 121, 2),
}
ASYNC_PAIRS = {
    "async_authors_books": (21, 2, 26, 2),
    "async_articles_tags": (31, 2, 41, 2),
    "async_tag_creators": (92, 2, 122, 2),
    "async_authors_book_count": (21, 1, 26, 1),
    "async_stream_authors": (21, 2, 26, 2),
    "async_serializer": (91, 2, 121, 2),
}
# Pairs whose N is a request parameter: pair -> ((query, naive, fixed), ...)
PARAM_PAIRS = {
    "books_by_pk": (("", 20, 1), ("?ids=" + ",".join(map(str, range(1, 61, 2))), 30, 1)),
    "visits": (("", 11, 2), ("?n=20", 21, 2)),
}
ASYNC_PARAM_PAIRS = {"async_" + name: cases for name, cases in PARAM_PAIRS.items()}
# catalog.PAGES: pair -> (naive, fixed, naive after grow(), fixed after grow()); the admin's
# include its 4 queries of every changelist (session, user, 2 COUNTs).
PAGE_PAIRS = {
    "admin_articles": (125, 6, 165, 6),
    "list_articles": (91, 2, 121, 2),
    "api_articles": (121, 2, 161, 2),
}
HAVE_DRF = importlib.util.find_spec("rest_framework") is not None

GROW_AUTHORS = 5
GROW_ARTICLES = 10


def grow():
    """Add 5 authors (profile + 3 books each, one in RECENT_YEAR) and 10 articles (3 tags)."""
    publisher = Publisher.objects.get(pk=1)
    tags = list(Tag.objects.all()[:3])
    authors = []
    for i in range(GROW_AUTHORS):
        author = Author.objects.create(name=f"Extra author {i}")
        Profile.objects.create(author=author, bio="extra")
        for year in seed_module.BOOK_YEARS:
            Book.objects.create(
                title=f"Extra {i} {year}",
                author=author,
                publisher=publisher,
                published=datetime.date(year, 6, 1),
            )
        authors.append(author)
    for i in range(GROW_ARTICLES):
        article = Article.objects.create(
            title=f"Extra article {i}", body="extra", author=authors[i % GROW_AUTHORS]
        )
        article.tags.set(tags)


def _capture_default_connection():
    # Resolve the connection object now (in the sync thread the ORM runs in): the event loop
    # thread of an async test sees a different ``connections["default"]`` object.
    return CaptureQueriesContext(connections[DEFAULT_DB_ALIAS])


class AssertNumQueriesAsync:
    """``assertNumQueries`` for async tests: the capture must wrap the connection the views'
    ``sync_to_async`` ORM calls use, and entering it touches the database, so it is set up in
    a sync thread."""

    def __init__(self, testcase, expected, label=""):
        self.testcase = testcase
        self.expected = expected
        self.label = label
        self.context = None

    async def __aenter__(self):
        self.context = await sync_to_async(_capture_default_connection)()
        await sync_to_async(self.context.__enter__)()
        return self.context

    async def __aexit__(self, exc_type, exc, tb):
        await sync_to_async(self.context.__exit__)(exc_type, exc, tb)
        if exc_type is None:
            sql = "\n".join(q["sql"] for q in self.context.captured_queries)
            self.testcase.assertEqual(
                len(self.context),
                self.expected,
                f"{self.label}: {len(self.context)} queries, expected {self.expected}\n{sql}",
            )


class SeededTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        seed()

    def fetch(self, path):
        return fetch(path, client=self.client)

    def assert_queries(self, path, expected):
        with self.assertNumQueries(expected):
            response, body = self.fetch(path)
        self.assertEqual(response.status_code, 200, path)
        return body

    async def aassert_queries(self, path, expected):
        async with AssertNumQueriesAsync(self, expected, path):
            response, body = await afetch(path, self.async_client)
        self.assertEqual(response.status_code, 200, path)
        return body


def _comparable(body):
    """What naive and fixed twins must agree on: the rows (HTML and NDJSON compare as text)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode().replace("(naive)", "").replace("(fixed)", "")
    data.pop("view", None)
    return data


class SeedTests(TestCase):
    def test_seed_counts_and_idempotence(self):
        out = StringIO()
        call_command("seed_demo", stdout=out)
        call_command("seed_demo", stdout=out)
        self.assertIn("30 articles", out.getvalue())
        self.assertEqual(get_user_model().objects.count(), seed_module.USERS + 1)
        admin = get_user_model().objects.get(username=seed_module.ADMIN_USERNAME)
        self.assertTrue(admin.is_superuser and admin.is_staff)
        self.assertTrue(admin.check_password(seed_module.ADMIN_PASSWORD))
        self.assertEqual(Publisher.objects.count(), seed_module.PUBLISHERS)
        self.assertEqual(Author.objects.count(), seed_module.AUTHORS)
        self.assertEqual(Profile.objects.count(), seed_module.AUTHORS)
        self.assertEqual(Book.objects.count(), seed_module.BOOKS)
        self.assertEqual(Tag.objects.count(), seed_module.TAGS)
        self.assertEqual(Article.objects.count(), seed_module.ARTICLES)
        self.assertEqual(Article.tags.through.objects.count(), seed_module.ARTICLE_TAGS)
        self.assertEqual(Visit.objects.count(), 0)
        # one recent book per author, each tag by its own user, 3 distinct tags per article
        self.assertEqual(
            Book.objects.filter(published__year=seed_module.RECENT_YEAR).count(),
            seed_module.AUTHORS,
        )
        self.assertEqual(Tag.objects.values("created_by").distinct().count(), seed_module.TAGS)
        for article in Article.objects.prefetch_related("tags"):
            self.assertEqual(len({t.pk for t in article.tags.all()}), 3)
        self.assertEqual(list(Book.objects.values_list("pk", flat=True)), list(range(1, 61)))


class CatalogTests(SeededTestCase):
    def test_every_view_documents_itself(self):
        names = set()
        for entry in entries():
            with self.subTest(entry["name"]):
                self.assertIsInstance(entry["queries"], int)
                self.assertTrue(entry["shows"])
                self.assertTrue(entry["fix"])
                self.assertIn(entry["variant"], ("naive", "fixed", "unprefetched"))
                self.assertEqual(entry["async"], entry["name"].startswith("async_"))
                names.add(entry["name"])
        for entry in entries():
            if entry["variant"] != "fixed":
                twin = entry["pair"] + "_fixed"
                self.assertIn(twin, names)
                fixed = next(e for e in entries() if e["name"] == twin)
                self.assertGreater(entry["queries"], fixed["queries"])
        tested = set(SYNC_PAIRS) | set(ASYNC_PAIRS) | set(PARAM_PAIRS) | set(ASYNC_PARAM_PAIRS)
        self.assertEqual({e["pair"] for e in entries()}, tested)

    def test_index_lists_every_view(self):
        with self.assertNumQueries(0):
            response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        views = response.json()["views"]
        self.assertEqual(len(views), len(ROUTES))
        self.assertEqual(len(response.json()["pages"]), len(PAGES))
        self.assertEqual(views[0]["path"], "/articles/authors/naive/")
        self.assertEqual(
            {v["name"]: v["queries"] for v in views}["async_tag_creators_naive"],
            92,
        )

    def test_sync_views_run_the_documented_number_of_queries(self):
        for entry in entries():
            if not entry["async"]:
                with self.subTest(entry["name"]):
                    self.assert_queries(entry["path"], entry["queries"])

    async def test_async_views_run_the_documented_number_of_queries(self):
        for entry in entries():
            if entry["async"]:
                await self.aassert_queries(entry["path"], entry["queries"])

    def test_twins_return_the_same_rows(self):
        by_pair = {}
        for entry in entries():
            by_pair.setdefault(entry["pair"], {})[entry["variant"]] = entry
        for pair, variants in by_pair.items():
            with self.subTest(pair):
                fixed = _comparable(self.fetch(variants["fixed"]["path"])[1])
                for variant, entry in variants.items():
                    body = self.fetch(entry["path"])[1]
                    self.assertEqual(_comparable(body), fixed, f"{pair} {variant}")


class SyncPairTests(SeededTestCase):
    def test_naive_scales_with_rows_fixed_is_constant(self):
        for grown in (False, True):
            if grown:
                grow()
            for pair, (naive, fixed, naive_grown, fixed_grown) in SYNC_PAIRS.items():
                with self.subTest(pair, grown=grown):
                    self.assert_queries(reverse(pair + "_naive"), naive_grown if grown else naive)
                    self.assert_queries(reverse(pair + "_fixed"), fixed_grown if grown else fixed)

    def test_pair_table_is_consistent(self):
        for pair, (naive, fixed, naive_grown, fixed_grown) in {**SYNC_PAIRS, **ASYNC_PAIRS}.items():
            with self.subTest(pair):
                self.assertGreater(naive, fixed)
                self.assertGreater(naive_grown, naive)  # naive scales with the rows
                self.assertEqual(fixed_grown, fixed)  # fixed does not

    def test_tag_creators_three_shapes(self):
        # The async article's three shapes: nothing prefetched, bare prefetch, nested select.
        self.assert_queries(reverse("tag_creators_unprefetched"), 121)
        self.assert_queries(reverse("tag_creators_naive"), 92)
        self.assert_queries(reverse("tag_creators_fixed"), 2)
        grow()
        self.assert_queries(reverse("tag_creators_unprefetched"), 161)
        self.assert_queries(reverse("tag_creators_naive"), 122)
        self.assert_queries(reverse("tag_creators_fixed"), 2)

    def test_parameterised_pairs(self):
        for pair, cases in PARAM_PAIRS.items():
            for query, naive, fixed in cases:
                with self.subTest(pair, query=query):
                    self.assert_queries(reverse(pair + "_naive") + query, naive)
                    self.assert_queries(reverse(pair + "_fixed") + query, fixed)

    def test_visits_only_write_visits(self):
        self.fetch(reverse("visits_naive"))
        self.fetch(reverse("visits_fixed") + "?n=5")
        self.assertEqual(Visit.objects.count(), 15)
        self.assertEqual(Article.objects.count(), seed_module.ARTICLES)
        self.assertEqual(self.client.get(reverse("visits_naive") + "?n=x").status_code, 400)
        self.assertEqual(self.client.get(reverse("books_by_pk_naive") + "?ids=a").status_code, 400)

    def test_template_renders_relations(self):
        body = self.assert_queries(reverse("template_articles_naive"), 61).decode()
        self.assertIn("Article 01 by Author 01", body)
        self.assertIn("tag01, tag06, tag11", body)

    def test_streams_are_ndjson(self):
        body = self.assert_queries(reverse("stream_authors_fixed"), 2)
        lines = [json.loads(line) for line in body.decode().splitlines()]
        self.assertEqual(len(lines), seed_module.AUTHORS)
        self.assertEqual(len(lines[0]["books"]), seed_module.BOOKS_PER_AUTHOR)


class AsyncPairTests(SeededTestCase):
    async def test_naive_scales_with_rows_fixed_is_constant(self):
        for grown in (False, True):
            if grown:
                await sync_to_async(grow)()
            for pair, (naive, fixed, naive_grown, fixed_grown) in ASYNC_PAIRS.items():
                await self.aassert_queries(
                    reverse(pair + "_naive"), naive_grown if grown else naive
                )
                await self.aassert_queries(
                    reverse(pair + "_fixed"), fixed_grown if grown else fixed
                )

    async def test_parameterised_pairs(self):
        for pair, cases in ASYNC_PARAM_PAIRS.items():
            for query, naive, fixed in cases:
                await self.aassert_queries(reverse(pair + "_naive") + query, naive)
                await self.aassert_queries(reverse(pair + "_fixed") + query, fixed)

    async def test_async_stream_is_consumed_by_the_async_client(self):
        body = await self.aassert_queries(reverse("async_stream_authors_naive"), 21)
        lines = body.decode().splitlines()
        self.assertEqual(len(lines), seed_module.AUTHORS)
        self.assertEqual(json.loads(lines[0])["author"], "Author 01")

    async def test_async_twins_match_sync_views(self):
        for pair in ("authors_books", "tag_creators", "serializer"):
            sync_body = await sync_to_async(self.fetch)(reverse(pair + "_fixed"))
            response, body = await afetch(reverse("async_" + pair + "_naive"), self.async_client)
            self.assertEqual(_comparable(body)["digest"], _comparable(sync_body[1])["digest"])


def _admin_rows(body):
    """The changelist's cells (``<td class="field-NAME">``, the title is a ``<th>``)."""
    return re.findall(r'<td class="field-(\w+)">(.*?)</td>', body.decode(), re.S)


class PagesTests(SeededTestCase):
    """The admin, API and ListView pages: counts, twins, the admin login."""

    def setUp(self):
        self.admin_client = Client()
        self.admin_client.force_login(
            get_user_model().objects.get(username=seed_module.ADMIN_USERNAME)
        )

    def page_queries(self, page, expected):
        client = self.admin_client if page["login"] else self.client
        with self.assertNumQueries(expected):
            response = client.get(page["path"])
            body = response.content
        self.assertEqual(response.status_code, 200, page["path"])
        return body

    def by_name(self):
        return {page["name"]: page for page in pages()}

    def test_every_page_documents_itself_and_has_a_twin(self):
        listed = pages()
        self.assertEqual(len(listed), len(PAGES))
        expected = {"admin_articles", "list_articles"} | ({"api_articles"} if HAVE_DRF else set())
        self.assertEqual({p["pair"] for p in listed}, expected)
        for page in listed:
            with self.subTest(page["name"]):
                self.assertTrue(page["shows"])
                self.assertTrue(page["fix"])
                self.assertIsInstance(page["queries"], int)
                self.assertIn(page["variant"], ("naive", "fixed"))
                self.assertIn(page["kind"], ("admin", "drf", "view"))
                self.assertEqual(page["login"], page["kind"] == "admin")
                self.assertEqual(
                    page["queries"], PAGE_PAIRS[page["pair"]][page["variant"] == "fixed"]
                )
                if page["login"]:
                    self.assertIn("admin / admin", page["note"])

    def test_pages_run_the_documented_number_of_queries(self):
        for page in pages():
            with self.subTest(page["name"]):
                self.page_queries(page, page["queries"])

    def test_naive_scales_with_rows_fixed_is_constant(self):
        for grown in (False, True):
            if grown:
                grow()
            for page in pages():
                naive, fixed, naive_grown, fixed_grown = PAGE_PAIRS[page["pair"]]
                if page["variant"] == "naive":
                    expected = naive_grown if grown else naive
                else:
                    expected = fixed_grown if grown else fixed
                with self.subTest(page["name"], grown=grown):
                    self.page_queries(page, expected)

    def test_twins_show_the_same_rows(self):
        self.fetch(reverse("visits_naive") + "?n=5")  # some visits to count
        self.fetch(reverse("visits_fixed") + "?n=2")
        by_name = self.by_name()
        bodies = {name: self.page_queries(page, page["queries"]) for name, page in by_name.items()}
        naive, fixed = bodies["admin_articles_naive"], bodies["admin_articles_fixed"]
        self.assertEqual(len(_admin_rows(naive)), 3 * seed_module.ARTICLES)  # title is a <th>
        self.assertEqual(_admin_rows(naive), _admin_rows(fixed))
        self.assertIn("Author 01: Author 01 writes about Django.", naive.decode())
        self.assertIn('<td class="field-visit_count">2</td>', naive.decode())
        naive, fixed = bodies["list_articles_naive"], bodies["list_articles_fixed"]
        self.assertEqual(_comparable(naive), _comparable(fixed))
        self.assertIn("tag01, tag06, tag11", naive.decode())
        self.assertIn("(2 visits)", naive.decode())
        if HAVE_DRF:
            naive = json.loads(bodies["api_articles_naive"])
            self.assertEqual(naive, json.loads(bodies["api_articles_fixed"]))
            self.assertEqual(len(naive), seed_module.ARTICLES)
            self.assertEqual(
                naive[0],
                {
                    "id": 1,
                    "title": "Article 01",
                    "author": {
                        "name": "Author 01",
                        "profile": {"bio": "Author 01 writes about Django."},
                    },
                    "tags": [{"name": "tag01"}, {"name": "tag06"}, {"name": "tag11"}],
                    "visit_count": 2,
                },
            )

    def test_admin_pages_need_the_seeded_login(self):
        for page in pages():
            if page["login"]:
                response = self.client.get(page["path"])
                self.assertEqual(response.status_code, 302, page["path"])
                self.assertIn("/admin/login/", response["Location"])
        self.assertTrue(
            self.client.login(
                username=seed_module.ADMIN_USERNAME, password=seed_module.ADMIN_PASSWORD
            )
        )
        self.assertEqual(
            self.client.get(self.by_name()["admin_articles_naive"]["path"]).status_code, 200
        )


class WithoutDRFTests(TestCase):
    """Django REST framework is a dependency of the demo only: without it, no API pages."""

    def test_demo_runs_without_rest_framework(self):
        script = (
            "import sys\n"
            "sys.modules['rest_framework'] = None  # as if not installed\n"
            "import django\n"
            "django.setup()\n"
            "from django.conf import settings\n"
            "from django.core.management import call_command\n"
            "from django.test import Client\n"
            "call_command('check')\n"
            "assert 'rest_framework' not in settings.INSTALLED_APPS\n"
            "assert Client().get('/api/articles/naive/').status_code == 404\n"
            "print(sorted(p['name'] for p in Client().get('/').json()['pages']))\n"
        )
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="demo.settings", DJTOP_DEMO_NO_DJTOP="1")
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn(
            "['admin_articles_fixed', 'admin_articles_naive', "
            "'list_articles_fixed', 'list_articles_naive']",
            done.stdout,
        )


# The WSGI live server serves the async streaming views by consuming their async iterator,
# which Django reports with this warning (runserver prints it too).
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume asynchronous iterators"
)


def _load_traffic():
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "traffic.py")
    spec = importlib.util.spec_from_file_location("demo_traffic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TrafficScriptTests(LiveServerTestCase):
    """traffic.py --once against a live server: every view answers 200."""

    def setUp(self):
        seed()

    def test_once_hits_every_view(self):
        traffic = _load_traffic()
        out = StringIO()
        with redirect_stdout(out):
            status = traffic.main(
                [self.live_server_url, "--once", "--interval", "0", "--wait", "5"]
            )
        self.assertEqual(status, 0, out.getvalue())
        self.assertIn("logged in as admin", out.getvalue())
        self.assertIn(f"{len(ROUTES) + len(PAGES)} requests, 0 not 200", out.getvalue())
        for path, *_ in PAGES:
            self.assertRegex(out.getvalue(), rf" 200 .*  /{re.escape(path)}\n")

    def test_admin_pages_without_a_login(self):
        traffic = _load_traffic()
        out, err = StringIO(), StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = traffic.main(
                [self.live_server_url, "--once", "--interval", "0", "--wait", "5"]
                + ["--password", "wrong", "--path", "/admin/blog/article/"]
                + ["--path", "/list/articles/fixed/"]
            )
        self.assertEqual(status, 1, out.getvalue())
        self.assertIn("could not log in as admin", err.getvalue())
        self.assertIn("2 requests, 1 not 200", out.getvalue())
        self.assertIn("not 200: /admin/blog/article/", out.getvalue())

    def test_unreachable_server(self):
        traffic = _load_traffic()
        with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
            status = traffic.main(["http://127.0.0.1:9", "--once", "--wait", "0.3"])
        self.assertEqual(status, 2)
