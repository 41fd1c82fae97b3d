"""The page in headless Chromium (Playwright) over a real server: an honest compare (a bicubic
2x "before", labels, the slider on the picture, 100% crops), players that play and seek
together, progress that moves, the job list with cancel and delete, a refused upload, and a
Live tab that explains itself and runs the camera only while it is open.
VCAM_SR_SCREENSHOTS=docs refreshes docs/web-*.png."""
import pytest
import time

import numpy as np
from PIL import Image

from conftest import SHARED, real_frames
from test_upscale import clip_with_sound
from web_helpers import SHOWN_BACKEND, TIMEOUT, browser, keep, serve  # noqa: F401

MODEL_SHOWN = "bicubic" if SHOWN_BACKEND == "bicubic" else "fast"  # fast or fast-clean: auto's pick

pytestmark = pytest.mark.slow  # real servers, browsers, displays or whole clips: the full run only

KODAK = SHARED / "train" / "kodak25" / "kodim23.png"


def photo(path, width, height):
    """A real photograph at width x height (Kodak's parrots when ../shared/data is here)."""
    if KODAK.exists():
        with Image.open(KODAK) as im:
            im.convert("RGB").resize((width * 3 // 2, height * 3 // 2), Image.LANCZOS).crop(
                (width // 4, height // 4, width // 4 + width, height // 4 + height)).save(path)
    else:
        Image.fromarray(real_frames(1, width, height)[0]).save(path)
    return path


def new_page(browser, **options):
    """A page; bypass_csp lets Playwright's own polling (eval) run under the page's CSP."""
    return browser.new_context(bypass_csp=True, **options).new_page()


def js(page, expression, arg=None):
    return page.evaluate(expression, arg)


def test_an_image_is_compared_honestly_at_fit_and_at_100_percent(serve, browser, tmp_path):
    site = serve()
    page = new_page(browser, viewport={"width": 1100, "height": 900})
    page.goto(site.base)
    keep(page, "web-upload.png")
    page.set_input_files("#file", str(photo(tmp_path / "parrots.png", 600, 400)))
    page.wait_for_selector("#split", timeout=TIMEOUT * 1000)
    page.wait_for_function("document.querySelector('img.before').naturalWidth > 0 && "
                           "document.querySelector('img.after').naturalWidth > 0")
    assert page.inner_text(".compare .label.left") == "before (bicubic 2x)"
    assert page.inner_text(".compare .label.right") == "after (vcam-sr)"
    before = js(page, "() => { const i = document.querySelector('img.before'); return [i.src, i.naturalWidth, "
                      "getComputedStyle(i).imageRendering]; }")
    assert before[0].endswith("/before") and before[1] == 1200 and before[2] == "auto"
    served = page.context.request.get(before[0])  # the before is Pillow's bicubic 2x of the upload
    got = np.asarray(Image.open(__import__("io").BytesIO(served.body())).convert("RGB"), np.int16)
    want = np.asarray(Image.open(tmp_path / "parrots.png").resize((1200, 800), Image.BICUBIC), np.int16)
    assert np.abs(got - want).max() <= 1

    slider, picture = page.locator("#split").bounding_box(), page.locator("img.after").bounding_box()
    assert all(abs(slider[k] - picture[k]) <= 1 for k in ("x", "y", "width", "height"))  # on the picture
    page.fill("#split", "30")
    page.dispatch_event("#split", "input")
    divider = page.locator(".compare .divider").bounding_box()
    assert abs(divider["x"] + 1 - (picture["x"] + 0.3 * picture["width"])) <= 2
    keep(page, "web-compare-image.png")

    page.check("#actual-size")
    ratio = js(page, "() => window.devicePixelRatio")
    box = js(page, "() => { const s = document.querySelector('.scroll'); const c = document.querySelector('.compare');"
                   " return [s.classList.contains('actual'), c.getBoundingClientRect().width, s.scrollWidth > s.clientWidth]; }")
    assert box[0] and abs(box[1] - 1200 / ratio) < 1 and box[2]  # pixels 1:1, in a scrolling box
    row = page.inner_text("#jobs tbody tr")
    assert "parrots.png" in row and MODEL_SHOWN in row and "1200×800" in row and "took" in row
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "parrots_2x.png"
    page.close()


def test_a_video_shows_moving_progress_and_players_that_play_and_seek_together(serve, browser, tmp_path):
    site = serve(max_bytes=32 << 20)
    clip = clip_with_sound(tmp_path / "talk.mp4", frames=200, size=(480, 272))
    page = new_page(browser, viewport={"width": 1300, "height": 900})
    page.goto(site.base)
    page.set_input_files("#file", str(clip))
    seen, kept = set(), False
    deadline = time.monotonic() + 90
    while page.is_hidden("#viewer"):
        assert time.monotonic() < deadline
        value, phase = float(page.get_attribute("#bar", "aria-valuenow")), page.inner_text("#phase")
        if "upscaling" in phase:  # the job's progress, not the upload's
            seen.add(value)
            if not kept and 0.3 < value < 0.8:
                keep(page, "web-progress.png")
                kept = True
        time.sleep(0.05)
    assert len([v for v in seen if 0 < v < 1]) >= 2, seen  # it moved through the job
    page.wait_for_function("document.getElementById('v-after').readyState >= 2 && "
                           "document.getElementById('v-before').readyState >= 2", timeout=TIMEOUT * 1000)
    page.click("#play")
    page.wait_for_function("!document.getElementById('v-after').paused && !document.getElementById('v-before').paused")
    page.click("#play")
    page.wait_for_function("document.getElementById('v-after').paused && document.getElementById('v-before').paused")
    page.fill("#seek", "500")
    page.dispatch_event("#seek", "input")
    page.wait_for_function("() => { const a = document.getElementById('v-after'), b = document.getElementById('v-before');"
                           " return !a.seeking && !b.seeking && Math.abs(a.currentTime - a.duration / 2) < 0.2"
                           " && Math.abs(a.currentTime - b.currentTime) < 0.1; }")
    assert "before" in page.inner_text("#players figure:first-child figcaption")
    assert page.inner_text("#players figure:last-child figcaption") == "after (vcam-sr)"
    page.check("#actual-size")
    sizes = js(page, "() => [...document.querySelectorAll('#players video')].map(v => v.getBoundingClientRect().width)")
    ratio = js(page, "() => window.devicePixelRatio")
    assert all(abs(w - 960 / ratio) < 1 for w in sizes), sizes  # the result 1:1, the input 2x beside it
    keep(page, "web-compare-video.png")
    page.close()


def test_the_job_list_shows_only_this_browser_s_jobs_and_cancels_and_deletes(serve, browser, tmp_path):
    site = serve(max_bytes=32 << 20)
    context = browser.new_context(bypass_csp=True, viewport={"width": 1100, "height": 700})
    page = context.new_page()
    page.goto(site.base)
    page.set_input_files("#file", str(clip_with_sound(tmp_path / "long.mp4", frames=300, size=(320, 192))))
    page.wait_for_selector("#jobs tbody tr:has-text('left') button.cancel", timeout=TIMEOUT * 1000)
    page.set_input_files("#file", str(photo(tmp_path / "photo.png", 200, 150)))
    page.wait_for_selector("#jobs tbody tr:has-text('waiting')", timeout=TIMEOUT * 1000)
    running = page.inner_text("#jobs tbody tr:has-text('long.mp4')")
    assert MODEL_SHOWN in running and "640×384" in running and "left" in running  # model, size, time left
    keep(page, "web-jobs.png")
    other = browser.new_context(bypass_csp=True)  # another browser: another session
    stranger = other.new_page()
    stranger.goto(site.base)
    stranger.wait_for_selector("#no-jobs:not([hidden])")
    assert stranger.locator("#jobs tbody tr").count() == 0
    other.close()
    page.click("#jobs tbody tr:has-text('long.mp4') button.cancel")
    page.wait_for_selector("#jobs tbody tr:has-text('photo.png'):has-text('done') button.delete",
                           timeout=TIMEOUT * 1000)  # cancelling let the next one run
    assert page.locator("#jobs tbody tr").count() == 1
    page.click("#jobs tbody tr button.delete")
    page.wait_for_selector("#no-jobs:not([hidden])", timeout=TIMEOUT * 1000)
    assert page.is_hidden("#viewer") and site.queue.list() == []
    context.close()


def test_a_refused_upload_resets_the_bar_and_says_why(serve, browser, tmp_path):
    site = serve()
    page = new_page(browser)
    page.goto(site.base)
    page.set_input_files("#file", str(photo(tmp_path / "photo.png", 120, 80)))
    page.wait_for_selector("#viewer:not([hidden])", timeout=TIMEOUT * 1000)
    assert page.get_attribute("#bar", "aria-valuenow") == "1.000"
    notes = tmp_path / "notes.mp4"
    notes.write_text("just some text\n" * 200)
    page.set_input_files("#file", str(notes))
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "neither an image nor a playable video" in page.inner_text("#error")
    assert page.get_attribute("#bar", "aria-valuenow") == "0.000" and "failed" in page.get_attribute("#bar", "class")
    assert page.inner_text("#phase") == "Upload refused."
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (5 << 20))  # over this server's 4 MB: refused before sending it
    page.set_input_files("#file", str(big))
    page.wait_for_function("document.getElementById('error').textContent.includes('--max-mb')")
    page.close()


def test_the_live_tab_without_a_source_explains_how_to_start_one(serve, browser):
    site = serve(live=False)
    page = new_page(browser)
    page.goto(site.base)
    page.click("#tab-live")
    help_text = page.inner_text("#live-help")
    assert "No live source" in help_text and "vcam-sr web --source 0" in help_text
    assert page.locator("#live-start, #live-stop, #live-img").count() == 0  # no dead buttons, no broken image
    keep(page, "web-live-no-source.png")
    page.close()


def test_the_live_tab_runs_the_camera_only_while_it_is_open(serve, browser):
    site = serve(live=True, live_grace=0.3)
    page = new_page(browser, viewport={"width": 1300, "height": 700})
    page.goto(site.base)
    assert site.controller.state == "stopped"
    page.click("#tab-live")
    page.wait_for_function("document.getElementById('live-img').naturalWidth > 0", timeout=TIMEOUT * 1000)
    assert site.controller.state == "running"
    assert page.is_visible(".live-frame .label.left") and page.inner_text(".live-frame .label.right") == "after (vcam-sr)"
    page.wait_for_function("document.getElementById('live-state').textContent.includes('running')")
    first_state, first = page.inner_text("#live-state"), page.locator("#live-img").screenshot()
    page.wait_for_function("s => document.getElementById('live-state').textContent !== s", arg=first_state)
    assert page.locator("#live-img").screenshot() != first  # a live stream, and a status that refreshes
    width = page.locator("#live-img").bounding_box()["width"]
    assert width > 1000  # before | after across the page, not squeezed
    keep(page, "web-live.png")
    page.click("#live-stop")
    page.wait_for_function("document.getElementById('live-img').hidden")
    assert "Stopped" in page.inner_text("#live-placeholder")  # not the last frame, frozen
    page.wait_for_function("document.getElementById('live-state').textContent.includes('stopped')")
    page.click("#live-start")
    page.wait_for_function("!document.getElementById('live-img').hidden", timeout=TIMEOUT * 1000)
    page.click("#tab-upload")  # nobody watches: it stops after the grace period
    deadline = time.monotonic() + TIMEOUT
    while site.controller.state != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page.close()
