"""Stack walks keep (code, instruction offset) and resolve lines later: the lines must be the
ones ``f_lineno`` gives at the moment of the walk."""

import asyncio
import sys

from djtop import stacks


def _frames(frame):
    while frame is not None:
        yield frame
        frame = frame.f_back


def _check_every_frame_outwards(frame):
    checked = 0
    for f in _frames(frame):
        assert stacks.line_of(f.f_code, f.f_lasti) == (f.f_lineno or 0), (
            f.f_code.co_filename,
            f.f_code.co_name,
            f.f_lasti,
        )
        checked += 1
    return checked


def test_line_of_matches_f_lineno_on_every_frame_of_a_real_stack():
    # pytest's own stack: dozens of functions of every shape (loops, with, try, calls over
    # several lines), each stopped at a call.
    assert _check_every_frame_outwards(sys._getframe()) > 20


def _inner(results):
    results.append(sys._getframe(1))
    return 1


def test_line_of_matches_f_lineno_inside_calls_that_span_lines():
    seen = []
    total = 0
    for _ in range(3):
        total += _inner(
            seen,
        )
        frame = seen[-1]
        assert stacks.line_of(frame.f_code, frame.f_lasti) == frame.f_lineno
    assert total == 3


def test_line_of_matches_f_lineno_in_suspended_generators_and_coroutines():
    def gen():
        yield 1
        x = 2
        yield x

    g = gen()
    next(g)
    assert stacks.line_of(g.gi_frame.f_code, g.gi_frame.f_lasti) == g.gi_frame.f_lineno
    next(g)
    assert stacks.line_of(g.gi_frame.f_code, g.gi_frame.f_lasti) == g.gi_frame.f_lineno

    async def inner():
        await asyncio.sleep(0)
        return sys._getframe(1)

    async def outer():
        frame = await inner()
        return frame, stacks.line_of(frame.f_code, frame.f_lasti), frame.f_lineno

    _, resolved, expected = asyncio.run(outer())
    assert resolved == expected


def test_a_walk_resolves_to_file_line_function():
    frame = sys._getframe()
    lasti, line = frame.f_lasti, frame.f_lineno  # one line: the same position
    walk = ["tests/x.py", frame.f_code, lasti]
    name = "test_a_walk_resolves_to_file_line_function"
    assert stacks.resolve(walk) == (("tests/x.py", line, name),)
    assert stacks.site_of(walk + ["other.py", frame.f_code, 0]) == ["tests/x.py", line, name]


def _walk_both(memo, limit=20):
    frame = sys._getframe(1)
    with_memo, crossed = stacks._walk(frame, limit, None, None, memo)
    plain, plain_crossed = stacks._walk(frame, limit, None, None, None)
    return stacks.resolve(with_memo), stacks.resolve(plain), crossed == plain_crossed


def _leaf(memo, out, limit):
    out.append(_walk_both(memo, limit))


def _middle(memo, out, limit):
    _leaf(memo, out, limit)  # one frame deeper than the direct call below
    out.append(_walk_both(memo, limit))


def _gen(memo, out, limit):
    for _ in range(2):
        _leaf(memo, out, limit)
        yield


def _view(memo, out, limit):
    for _ in range(4):  # the same frames again and again, from different lines and depths
        _leaf(memo, out, limit)
        _middle(memo, out, limit)
        for _ in _gen(memo, out, limit):
            out.append(_walk_both(memo, limit))


def test_the_request_memo_gives_the_walk_a_full_walk_gives():
    for limit in (20, 3, 2):
        memo, out = {}, []
        _view(memo, out, limit)
        assert len(out) == 4 * 7
        for with_memo, plain, same_crossing in out:
            assert with_memo == plain and same_crossing
            assert len(plain) <= limit
        if limit == 20:  # (a walk cut at the limit is not remembered: it could go further)
            assert memo, "the view's frames were remembered"
        assert all(not f.f_code.co_flags & 0x20 for f in memo), "no generator frames"


# -- a statement's walk reuses the library part of the last one (stacks._walk_statement) -----

# Library code for the walks below: compiled under a site-packages file name, which the
# walk's file cache is told is a library file (as _classify would say of Django's).
_LIB_FILE = "/venv/lib/python3/site-packages/fakelib/query.py"
_LIB_SOURCE = """
def execute(then):
    return then()

def fetch(then, other_line=False):
    if other_line:
        return execute(then)
    return execute(then)

def api(then, other_line=False):
    return fetch(then, other_line)

def generic_view(then):
    return api(then)
"""
_lib = {}
exec(compile(_LIB_SOURCE, _LIB_FILE, "exec"), _lib)


def _statement_walk(results):
    """Called where a statement would run: walk from the library frame that called it, as
    capture does, and beside it a full walk of the same frames."""

    def then():
        start = sys._getframe(1)  # fakelib's execute()
        out, crossed, lib = stacks._walk_statement(start, 20, None, None)
        full_lib = []
        full, full_crossed = stacks._walk(start, 20, None, full_lib, None)
        results.append((stacks.resolve(out), crossed, lib, stacks.resolve(full), full_lib))

    return then


def _app_loop(results, times=3):
    for _ in range(times):
        _lib["api"](_statement_walk(results))


def _app_other(results):
    _lib["api"](_statement_walk(results))


def _app_through_library(results):
    _lib["generic_view"](_statement_walk(results))


def _app_other_line(results):
    _lib["api"](_statement_walk(results), True)


def test_a_statement_walk_gives_what_a_full_walk_gives_when_it_reuses_the_last_one():
    stacks._cache[_LIB_FILE] = ("fakelib/query.py",)
    stacks._chains.clear()
    assert type(stacks._kind(sys._getframe())) is str  # this file is app code
    results = []
    _app_loop(results)  # the same frames three times: the last two reuse the first's chain
    _app_other(results)  # the same library frames under another app function
    _app_through_library(results)  # ... under one more library frame: not reusable
    _app_other_line(results)  # the same functions, fetch() calling from another line: not reusable
    _app_loop(results, 1)
    for out, crossed, lib, full, full_lib in results:
        assert out == full and not crossed
        assert lib == full_lib
        assert [entry for entry in lib[::3]] == ["fakelib/query.py"] * (len(lib) // 3)
    # what the walks found
    names = [[function for _file, _line, function in stacks.resolve(r[2])] for r in results]
    assert names[0] == names[3] == ["execute", "fetch", "api"]
    assert names[4] == ["execute", "fetch", "api", "generic_view"]
    assert names[5] == ["execute", "fetch", "api"]
    fetch_line = [stacks.resolve(r[2])[1][1] for r in results]
    assert fetch_line[5] != fetch_line[0] == fetch_line[4]  # fetch() at its other line
    assert [r[0][0][2] for r in results] == ["_app_loop"] * 3 + [
        "_app_other",
        "_app_through_library",
        "_app_other_line",
        "_app_loop",
    ]
    # the reuse happened: the same library list, not a new one
    assert results[1][2] is results[0][2] and results[2][2] is results[0][2]
    assert results[3][2] is results[0][2]
    assert results[4][2] is not results[0][2] and results[5][2] is not results[0][2]
