"""Streaming playback in the browser: with ``#synth-stream`` ticked, the page's own ``<audio>`` element plays
the live WAV (no FFmpeg anywhere) and starts before the whole synthesis is done; then the result comes.

The page is watched from inside (a 10 ms poll in the page) so the moments are the browser's own: when the
player appeared, when it had metadata, when it started playing, when the download link came. They are
written to ``test-output/browser/streaming-timings.json``.
"""

from __future__ import annotations

import json
import re

from browser_kit import OUTPUT, open_synthesize_with_reference, screenshot
from tiny_models import write_speech

REFERENCE = "The quick brown fox jumps over the lazy dog near the river bank."
# Three long sentences: with the tiny models (about 40x faster than real time once loaded) the synthesis
# then lasts a few seconds, well past the moment Chromium starts playing (it waits for about 230 kB of WAV,
# 3.6 s of 32 kHz audio, before it has the metadata).
TEXT = (
    "Hello there, this is the first sentence of a rather long test, and it keeps going for quite a while, "
    "with one clause after another, so that the synthesis of the whole text takes a few seconds even with "
    "very small models, which is what this test needs. Here comes the second sentence, a little longer than "
    "the first one, with a good many more words to speak before it finally ends, and with commas here and "
    "there, because every comma starts a new segment of the text. And the third sentence ends the test, "
    "long after the player has started to play the first words of the first sentence, which is the whole "
    "point of streaming the audio while it is being made."
)

# Records, in ms after the click, the first moment each thing was true for the new run (a player with
# another stream, a download link other than ``old_href``). Nothing is muted or started by the script:
# the player starts itself (autoplay, allowed by the click on Synthesize).
WATCH = """(old) => {
  const log = {t0: performance.now(), at: {}};
  window.__stream = log;
  const mark = (k) => { if (!(k in log.at)) log.at[k] = Math.round(performance.now() - log.t0); };
  const watched = new WeakSet();
  const tick = () => {
    let a = document.querySelector('#synth-stream-audio');
    if (a && a.getAttribute('src') === old.src) a = null;
    const link = document.querySelector('#synth-download a');
    const done = link && link.getAttribute('href') !== old.href;
    if (a) {
      mark('player');
      if (!watched.has(a)) {
        watched.add(a);
        for (const e of ['loadedmetadata', 'canplay', 'playing', 'ended', 'error']) {
          a.addEventListener(e, () => mark(e));
        }
      }
      if (a.readyState >= 2) mark('ready_state_2');
      if (a.currentTime > 0) mark('current_time_above_0');
      if (done && !log.at_download) {
        log.at_download = {current_time: a.currentTime, ready_state: a.readyState, paused: a.paused,
                           buffered: a.buffered.length ? a.buffered.end(a.buffered.length - 1) : 0};
      }
    }
    if (done) mark('download');
    if (!('ended' in log.at) && performance.now() - log.t0 < 600000) setTimeout(tick, 10);
  };
  tick();
}"""


def attribute(page, selector: str, name: str) -> str | None:
    found = page.locator(selector)
    return found.first.get_attribute(name) if found.count() else None


def synthesize_and_watch(page, live_shot: str | None = None) -> dict:
    """Click Synthesize; once the new result is there, the page's record of that run (see ``WATCH``).
    ``live_shot``: name of a screenshot taken once the player plays (the page keeps running meanwhile)."""
    old = {
        "src": attribute(page, "#synth-stream-audio", "src"),
        "href": attribute(page, "#synth-download a", "href"),
    }
    page.evaluate(WATCH, old)
    page.locator("#synth-run").click()
    if live_shot:
        page.wait_for_function(
            "['playing', 'download'].some((k) => k in window.__stream.at)", timeout=600_000
        )
        screenshot(page, live_shot)
    page.wait_for_function("'download' in window.__stream.at", timeout=600_000)
    audio = page.locator("#synth-stream-audio")
    assert re.fullmatch(r"/stream/[A-Za-z0-9_-]{20,}\.wav", audio.get_attribute("src"))
    assert audio.get_attribute("src") != old["src"] and audio.get_attribute("controls") is not None
    log = page.evaluate("window.__stream")
    info = page.locator("#synth-info").inner_text()
    log["result_length_s"] = float(re.search(r"([0-9.]+) s in", info).group(1))
    log["engine"] = (
        re.search(r"Time: .*", info).group(0) + " / " + re.search(r"First audio after: .*", info).group(0)
    )
    return log


def test_streamed_audio_plays_before_synthesis_ends(webui, browser, tmp_path, speak):
    reference = write_speech(speak, tmp_path / "reference.wav", REFERENCE)
    page = open_synthesize_with_reference(browser, webui, reference)
    page.locator("#synth-ref-text textarea").fill(REFERENCE)  # the same prompt every time (not ASR's guess)
    page.locator("#synth-stream input[type=checkbox]").check()
    player = page.locator("#synth-stream-player")
    player.get_by_text("plays here while it is being synthesized").wait_for()  # this server can stream
    page.locator("#synth-text textarea").fill(TEXT)
    page.locator("#synth-seed input").fill("7")

    # The first run loads the models; the second is what a user sees once they are loaded.
    runs = {"cold": synthesize_and_watch(page, live_shot="streaming-live")}
    screenshot(page, "streaming-result")
    runs["warm"] = synthesize_and_watch(page)
    (OUTPUT / "streaming-timings.json").write_text(json.dumps(runs, indent=2))
    for name, log in runs.items():
        at, now = log["at"], log.get("at_download")
        # It was playing (its clock moving) while the synthesis still ran: before the result was shown.
        assert "error" not in at and now is not None, (name, log)
        assert at["current_time_above_0"] < at["download"], (name, log)
        assert now["current_time"] > 0 and now["ready_state"] >= 2 and not now["paused"], (name, log)

    # The stream ended with the synthesis, so the player reaches its end (played fast here) and knows the
    # length: the result's plus at most the closing silence (64 ms at 32 kHz; Chromium drops some of it).
    page.evaluate("document.querySelector('#synth-stream-audio').playbackRate = 16")
    page.wait_for_function("'ended' in window.__stream.at", timeout=120_000)
    end = page.evaluate("(() => { const a = document.querySelector('#synth-stream-audio'); "
                        "return [a.currentTime, a.duration]; })()")  # fmt: skip
    length_s = runs["warm"]["result_length_s"]
    assert length_s - 0.01 <= end[0] == end[1] <= length_s + 0.07, (end, length_s)
    screenshot(page, "streaming-ended")
