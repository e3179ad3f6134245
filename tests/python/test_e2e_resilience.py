"""The app keeps serving when no collector listens and when the collector is killed mid-stream,
and the shim reconnects to a collector that comes back: a real `djtop record`, a real server."""

import threading
import uuid

import pytest
from e2e_util import Recorder, Server, free_port, read_events, requests_by_ref, seed, wait_for

PATH = "/authors/books/naive/"  # 21 queries a request


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_collector_down_killed_and_back(tmp_path, kind):
    seed(tmp_path)
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = Server(kind, tmp_path, address)
    statuses = []

    def hit():
        ref = uuid.uuid4().hex
        statuses.append(server.get(f"{PATH}?e2e={ref}"))
        return ref

    try:
        # 1. Nobody listens: every request is served.
        for _ in range(10):
            hit()

        # 2. A collector appears on that address: the shim connects by itself.
        first = Recorder(tmp_path / "first.ndjson", port=port)
        seen = []

        def arrived(path, refs):
            by_ref, _ = requests_by_ref(read_events(path))
            return all(r in by_ref and "end" in by_ref[r] for r in refs)

        def first_arrives():
            seen.append(hit())
            return arrived(first.out, seen[-1:])

        wait_for(first_arrives, timeout=30, what="the shim to connect to the new collector")

        # 3. Killed mid-stream while requests keep coming from several threads.
        stop = threading.Event()
        errors = []

        def hammer():
            while not stop.is_set():
                try:
                    hit()
                except Exception as e:  # a failed request is what this test is about
                    errors.append(repr(e))

        workers = [threading.Thread(target=hammer) for _ in range(4)]
        for w in workers:
            w.start()
        wait_for(lambda: len(statuses) > 60, timeout=60, what="traffic before the kill")
        first.proc.kill()
        first.proc.wait()
        served_at_kill = len(statuses)
        wait_for(
            lambda: len(statuses) > served_at_kill + 40, timeout=60, what="traffic after the kill"
        )
        stop.set()
        for w in workers:
            w.join()
        assert not errors, errors[:3]

        # 4. The collector returns on the same address: the shim reconnects and says hello.
        second = Recorder(tmp_path / "second.ndjson", port=port)
        later = []

        def second_arrives():
            later.append(hit())
            return arrived(second.out, later[-1:])

        wait_for(second_arrives, timeout=30, what="the shim to reconnect")
        second.stop()
        events = read_events(second.out)
        assert events[0]["type"] == "hello", events[0]
        by_ref, _ = requests_by_ref(events)
        assert len(by_ref[later[-1]]["queries"]) == 21
    finally:
        log = server.stop()
    assert statuses and all(s == 200 for s in statuses), set(statuses)
    assert "Traceback" not in log, log
