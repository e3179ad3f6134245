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
