"""The live feed's payloads (tuning_core/live/answers.py, html.py): parts, figures, ETags,
escaping, the sidebar."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.jobs.test_dispatcher import Gate, _config, _member
from tests.pages.support import make_run, write_trial
from tuning_core.core.workspace import runs_dir
from tuning_core.jobs.dispatcher import queue_for, serve_queue
from tuning_core.jobs.registry import JobRegistry, install_registry
from tuning_core.live import answers as _feed
from tuning_core.live import content
from tuning_core.live import html as _feed_html
from tuning_core.live.cache import MIN_AGE_S, Feed, FeedCache, run_version
from tuning_core.runs.rundir import RunDir


def payload(feed: Feed) -> dict:
    return json.loads(feed.body)


def fresh(build, *args) -> Feed:
    """An answer past the shortest reuse (a new log line shows at the next poll)."""
    time.sleep(MIN_AGE_S + 0.05)
    return build(*args)


def test_monitor_payload_has_parts_and_figures_without_template(workspace: Path,
                                                                image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder)
    body = payload(_feed.monitor_feed(run))
    assert body["run"] == run.name and body["active"] is False
    assert set(body["parts"]) == {"status", "table", "sidebar"}
    assert set(body["figures"]) == {f"{_feed.CHART_PREFIX}{n}" for n in
                                    ("objective", "learning_curves", "parallel", "importance",
                                     "pareto_latency", "pareto_params")}
    for hash_, figure in body["figures"].values():
        assert len(hash_) == 16 and "template" not in figure["layout"]
        assert figure["layout"]["uirevision"]  # the same chart keeps the zoom
    status = body["parts"]["status"][1]
    assert f"<b>{run.name}</b>: finished" in status
    assert '<div class="live-metric" data-metric="Completed"><div class="live-label">Completed' \
           '</div><div class="live-value">3</div></div>' in status
    assert body["parts"]["table"][1].count("<tr>") == 4  # header and three trials


def test_etag_holds_while_nothing_changes_and_only_changed_parts_get_new_hashes(
        workspace: Path, image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, finished=False)
    first = _feed.monitor_feed(run)
    assert _feed.monitor_feed(run) is first  # ten viewers within a moment: one build
    assert fresh(_feed.monitor_feed, run) is first  # nothing changed: no build at all
    log = RunDir(run).log_writer()
    log.write("trial_start", trial_id="03", number=4, hyperparameters={"conv_blocks": 1})
    assert _feed.monitor_feed(run) is not first  # a change shows at once...
    log.write("epoch_end", trial_id="03", execution=0, epoch=0, seconds=0.5,
              metrics={"loss": 0.9, "accuracy": 0.6, "val_loss": 1.0, "val_accuracy": 0.5})
    capped = _feed.monitor_feed(run)
    assert capped is _feed.monitor_feed(run)  # ...but a run is built at most every MIN_AGE_S
    later = fresh(_feed.monitor_feed, run)
    assert later is not capped
    assert later.etag != first.etag
    old, new = payload(first), payload(later)
    changed = {n for n in new["figures"] if new["figures"][n][0] != old["figures"][n][0]}
    assert f"{_feed.CHART_PREFIX}learning_curves" in changed
    assert f"{_feed.CHART_PREFIX}importance" not in changed  # no new completed trial
    assert new["parts"]["table"][0] != old["parts"]["table"][0]


def test_text_from_files_is_escaped(workspace: Path, image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, trials=1, finished=False)
    hostile = '<img src=x onerror="alert(1)">'
    log = RunDir(run).log_writer()
    write_trial(log, 5, score=None)
    log.write("trial_end", trial_id="05", status="failed", score=None, seconds=1.0,
              error=hostile)
    body = payload(fresh(_feed.monitor_feed, run))
    table = body["parts"]["table"][1]
    assert "<img" not in table and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in table
    assert "<img" not in json.dumps(body["figures"])  # hover texts are data, not markup


def test_table_cells_carry_sortable_values(workspace: Path, image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder)
    table = _feed_html.table_html(content.monitor_content(run).table)
    assert '<th data-col="4" title="Sort">duration (s)</th>' in table
    assert '<td data-v="0.5" class="num">0.5000</td>' in table  # score, 4 decimals
    assert '<td data-v="1.0" class="num">1.0</td>' in table  # seconds, 1 decimal


def test_run_names_are_folder_names_in_the_workspace_only(workspace: Path,
                                                          image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder)
    assert _feed.run_path(run.name) == run
    outside = make_run(workspace.parent / "elsewhere", image_folder)
    for name in ("", ".", "..", f"../elsewhere/{outside.name}", str(outside), "a\\b",
                 run.name + "\0", "no-such-run", "a" * 300):
        assert _feed.run_path(name) is None, name


def test_a_long_runs_live_answer_lives_longer(workspace: Path, image_folder: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each new line of a long run's search rebuilt its whole Monitor answer (0.15-0.7 s at
    10,000 trials, up to twice a second): a run's answer now serves everyone for a second per
    ``LINES_PER_AGE_S`` lines of its log, however fast the search logs."""
    run = make_run(runs_dir(), image_folder, finished=False)
    lines = RunDir(run).reader().size
    monkeypatch.setattr(_feed, "LINES_PER_AGE_S", lines / 1.5)  # this log: 1.5 s an answer
    assert _feed.live_age(run) == pytest.approx(1.5)
    first = _feed.monitor_feed(run)
    RunDir(run).log_writer().write("trial_start", trial_id="03", number=4,
                                   hyperparameters={"conv_blocks": 1})
    assert fresh(_feed.monitor_feed, run) is first  # past MIN_AGE_S, still within its age
    time.sleep(1.0)
    later = _feed.monitor_feed(run)
    assert later is not first  # then the new trial shows
    table = payload(later)["parts"]["table"][1]
    assert '<td data-v="03">03</td>' in table
    assert '<td data-v="03">03</td>' not in payload(first)["parts"]["table"][1]
    monkeypatch.setattr(_feed, "LINES_PER_AGE_S", 1)
    assert _feed.live_age(run) == _feed.MAX_LIVE_AGE_S  # however long, never staler than that
    monkeypatch.setattr(_feed, "LINES_PER_AGE_S", 10**9)
    assert _feed.live_age(run) == MIN_AGE_S  # a short run: as before


def test_sidebar_without_a_run_and_with_one(workspace: Path, image_folder: Path) -> None:
    none = payload(_feed.sidebar_feed(None))
    assert none["run"] == "" and "No run yet" in none["parts"]["sidebar"][1]
    run = make_run(runs_dir(), image_folder)
    html = payload(_feed.sidebar_feed(run))["parts"]["sidebar"][1]
    assert f"<b>{run.name}</b><br>finished" in html


def test_the_sidebar_does_not_read_a_large_log_the_process_has_not_read(
        workspace: Path, image_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page's sidebar polls its feed: on a fresh server it would replay the current
    run's whole log (1-2 s at 10,000 trials) beside the page's own first draw, to show a
    line that comes from the run's index. It follows the log's size until a page reads it."""
    from tuning_core.runs import readers

    run = make_run(runs_dir(), image_folder)
    monkeypatch.setattr(content, "SLOW_READ_BYTES", 1)  # this small log counts as large
    log = RunDir(run).log_path.resolve()
    with readers._READERS_LOCK:
        readers._READERS.pop(log, None)  # as on a fresh server
    first = payload(fresh(_feed.sidebar_feed, run))
    assert f"<b>{run.name}</b><br>finished" in first["parts"]["sidebar"][1]
    assert log not in readers.kept()  # shown from the index: the log was not read
    before = run_version(run, read=False)
    with RunDir(run).log_path.open("a") as out:  # the log grows: the answer is built anew
        out.write('{"event": "search_start", "time": 1.0}\n')
    assert run_version(run, read=False) != before and log not in readers.kept()
    RunDir(run).reader()  # a page read it: the sidebar follows the reader from now on
    assert run_version(run, read=False) == run_version(run)
    shown = payload(fresh(_feed.sidebar_feed, run))["parts"]["sidebar"][1]
    assert f"<b>{run.name}</b><br>interrupted" in shown  # the log's new start, not the index


def test_sidebar_lists_the_waiting_jobs(workspace: Path, image_folder: Path) -> None:
    gate = Gate()
    registry = install_registry(JobRegistry(runs_dir(), search=gate))
    serve_queue(registry, queue_for(runs_dir()))
    try:
        first = registry.start_search(_config(image_folder, "a"), _member("alice"))
        gate.wait_started(1)
        second = registry.start_search(_config(image_folder, "b"), _member("bob"))
        assert _feed_html.queue_text() == f"Queue: #1 {second.name} (bob)"
        html = payload(fresh(_feed.sidebar_feed, first))["parts"]["sidebar"][1]
        assert f"Queue: #1 {second.name} (bob)" in html and "running trial" in html
        assert '<div class="live-progress">' in html
        queued = payload(fresh(_feed.monitor_feed, second))["parts"]
        words = "queued (#1): starts by itself when the machine is free"
        assert words in queued["status"][1] and words in queued["sidebar"][1]
    finally:
        for name in [*gate.release, "a", "b"]:
            gate.finish(name)
        registry.shutdown(10)


@pytest.mark.parametrize("value, shown", [(None, ""), (float("nan"), ""), (3, "3"),
                                          ("<b>", "&lt;b&gt;")])
def test_cells(value, shown) -> None:
    assert f">{shown}</td>" in _feed_html._cell(value, "error")


def test_a_part_as_first_drawn_carries_the_hash_the_feed_sends(workspace: Path,
                                                               image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder)
    body = payload(_feed.monitor_feed(run))
    hash_, html = body["parts"]["sidebar"]
    assert f'data-live-hash="{hash_}"' in _feed_html.part("sidebar", run.name, html)


def test_viewers_polling_together_share_one_build() -> None:
    """Requests run in a thread pool: those that find the answer stale together wait for one
    build instead of each making its own."""
    cache, builds, started = FeedCache(), [], threading.Event()

    def build() -> Feed:
        builds.append(1)
        started.set()
        time.sleep(0.2)  # a build on a trial's end: a forest fit and four figures
        return Feed(b"{}", '"x"')

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.get, ("monitor", "run"), 1, build)
        started.wait(5)
        rest = [pool.submit(cache.get, ("monitor", "run"), 1, build) for _ in range(7)]
        answers = {id(f.result(5)) for f in [first, *rest]}
    assert len(builds) == 1 and len(answers) == 1
    time.sleep(MIN_AGE_S + 0.05)
    cache.get(("monitor", "run"), 2, build)  # a new version, after the minimum age: built
    assert len(builds) == 2


def test_a_large_answer_is_gzipped_once_with_a_tag_of_its_own() -> None:
    import gzip

    from tuning_core.live.cache import GZIP_MIN, pack

    large = pack(b'{"parts":"' + b"x" * GZIP_MIN + b'"}', '"abc"')
    assert gzip.decompress(large.gzipped) == large.body and len(large.gzipped) < 100
    assert large.gzip_etag == '"abc-gz"' != large.etag
    assert pack(b"{}", '"abc"').gzipped is None  # small: sent as it is


def test_a_build_that_hangs_holds_no_viewer_longer_than_the_wait(monkeypatch) -> None:
    """A stuck build of an answer must not hold every viewer's poll (and every thread that
    serves them): after ``BUILD_WAIT_S`` a request gets the last answer, or FeedBusy when
    there has been none yet; the page says it is not updating and asks again."""
    from tuning_core.live import cache as feed_module

    monkeypatch.setattr(feed_module, "BUILD_WAIT_S", 0.2)
    cache, release, started = FeedCache(), threading.Event(), threading.Event()

    def stuck() -> Feed:
        started.set()
        release.wait(10)
        return Feed(b"{}", '"new"')

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(cache.get, ("monitor", "run"), 1, stuck)
        started.wait(5)
        with pytest.raises(feed_module.FeedBusy, match="building"):
            cache.get(("monitor", "run"), 1, stuck)
        release.set()
        assert first.result(5).etag == '"new"'
    time.sleep(MIN_AGE_S + 0.05)
    release.clear()
    started.clear()
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(cache.get, ("monitor", "run"), 2, stuck)
        started.wait(5)
        began = time.monotonic()
        assert cache.get(("monitor", "run"), 2, stuck).etag == '"new"'  # the last answer
        assert time.monotonic() - began < 2
        release.set()
        second.result(5)


def test_events_this_version_does_not_know_are_said_on_the_monitor(workspace: Path,
                                                                   image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder)
    with (run / "trials.jsonl").open("a") as out:
        out.write(json.dumps({"event": "trial_paused", "time": 9e9, "trial_id": "00"}) + "\n")
    status = payload(fresh(_feed.monitor_feed, run))["parts"]["status"][1]
    assert "events this version does not know: trial_paused (1)" in status


def test_an_unchanged_log_is_not_built_again_when_its_answer_ages(
        workspace: Path, image_folder: Path, monkeypatch) -> None:
    """Past MAX_AGE_S the clock-following texts are made again, and nothing else: the same
    answer (no body assembled, nothing gzipped) while they read the same."""
    from tuning_core.live import cache as feed_module

    monkeypatch.setattr(feed_module, "MAX_AGE_S", MIN_AGE_S + 0.01)
    run = make_run(runs_dir(), image_folder)
    first = _feed.monitor_feed(run)
    assert fresh(_feed.monitor_feed, run) is first


def test_a_viewer_gets_only_what_changed_since_its_etag(workspace: Path,
                                                        image_folder: Path) -> None:
    run = make_run(runs_dir(), image_folder, finished=False)
    first = _feed.monitor_feed(run)
    RunDir(run).log_writer().write("epoch_end", trial_id="02", execution=0, epoch=5,
                                   seconds=0.5, metrics={"loss": 0.5, "val_loss": 0.6})
    whole = fresh(_feed.monitor_feed, run)
    delta = _feed.monitor_feed(run, first.gzip_etag)  # the tag as the browser sends it back
    assert delta.etag == whole.etag and len(delta.body) < len(whole.body)
    body, full = payload(delta), payload(whole)
    assert body["delta"] is True and "delta" not in full
    assert f"{_feed.CHART_PREFIX}learning_curves" in body["figures"]
    assert f"{_feed.CHART_PREFIX}importance" not in body["figures"]  # unchanged: not sent
    for section in ("parts", "figures"):
        assert all(full[section][n] == v for n, v in body[section].items())
    assert _feed.monitor_feed(run, first.etag) is delta  # one delta for every viewer on it
    assert _feed.monitor_feed(run, whole.etag) is whole  # up to date: the route says 304
    assert _feed.monitor_feed(run, '"unknown"') is whole  # a tag it does not know: all


def test_a_large_runs_first_visit_draws_its_headline_before_reading_its_log(
        workspace: Path, image_folder: Path, monkeypatch) -> None:
    """Issue 29: a fresh server read a 10,000-trial log (1.4 s) and built every chart before
    the Monitor drew anything, the sidebar first; now the run's index gives the headline at
    once, and the counts are drawn before any chart is built."""
    run = make_run(runs_dir(), image_folder)  # 3 trials, val_loss 0.5, 0.6, 0.7; 4 planned
    monkeypatch.setattr(content, "SLOW_READ_BYTES", 1)  # this small log counts as large
    assert _feed.first_read_is_slow(run)
    headline = _feed_html.headline_html(run)
    assert 'data-metric="Trials done"' in headline and ">3<" in headline
    assert "0.5000" in headline and "Reading the trial log" in headline
    quick = _feed_html.sidebar_html(run)  # from the index
    found, _, parts = _feed.monitor_parts(run)
    assert found.figures.ready() == ()  # the counts need no chart
    assert 'data-metric="Completed"' in parts["status"]
    assert not _feed.first_read_is_slow(run)  # read now: from the log, and the same
    assert _feed_html.sidebar_html(run) == quick and "finished" in quick
    spec = _feed.figure_spec(found, "objective")  # what the page gives the chart it draws
    assert found.figures.ready() == ("objective",)
    assert payload(_feed.monitor_feed(run))["figures"]["monitor_objective"][0] == spec.hash
