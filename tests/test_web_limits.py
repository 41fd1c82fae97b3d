"""The server stays up for its own page: uploads checked from their header (pixels, frames,
type) before anything is decoded, the real size limit refused in JSON, Live viewers capped,
idle connections timed out, no upload through TMPDIR."""
import fractions
import socket
import threading
import time

import av
import numpy as np
import pytest
import requests

from conftest import write_video
from web_helpers import TIMEOUT, assert_json_refusal, bicubic, declared_png, png_bytes, serve  # noqa: F401


@pytest.mark.parametrize("width, height", [(30000, 30000), (100000, 100), (2400, 2400), (65535, 65535)])
def test_an_image_declaring_too_many_pixels_is_refused_from_its_header(serve, width, height):
    site = serve(max_pixels=4_000_000)
    data = declared_png(width, height)
    assert len(data) < 200
    sentence = assert_json_refusal(site.upload(site.client(), "bomb.png", data), 413)
    assert "megapixels" in sentence and "upload a smaller image" in sentence
    assert site.queue.list() == []


def test_an_animated_image_is_refused_from_its_header(serve):
    import io

    from PIL import Image

    frames = [Image.new("RGB", (64, 48), (i * 5, 0, 0)) for i in range(50)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:])
    site = serve()
    assert "animated" in assert_json_refusal(site.upload(site.client(), "a.webp", buf.getvalue()), 415)


def test_an_image_within_the_limit_is_taken(serve):
    site = serve(max_pixels=4_000_000)
    client = site.client()
    response = site.upload(client, "ok.png", png_bytes(64, 48))
    assert response.status_code == 201
    job = site.wait_job(client, response.json()["id"])
    assert job["state"] == "done" and job["size"] == [64, 48] and job["output_size"] == [128, 96]


def tiny_video(path, width, height, frames=2, fps=25, codec="libx264", pts_step=1):
    return write_video(path, [np.zeros((height, width, 3), np.uint8)] * frames, fps, codec=codec,
                       pts=[i * pts_step for i in range(frames)]).read_bytes()


def test_a_4k_video_is_refused_from_its_header(serve, tmp_path):
    """The issue's 26 kB two-frame 4K clip that took the server to 3 GB."""
    site = serve(max_bytes=64 << 20)
    data = tiny_video(tmp_path / "4k.mp4", 3840, 2160)
    sentence = assert_json_refusal(site.upload(site.client(), "4k.mp4", data), 413)
    assert "3840x2160" in sentence and "1920" not in sentence or "megapixels" in sentence


def test_a_video_declaring_hours_of_frames_is_refused(serve, tmp_path):
    site = serve()
    data = tiny_video(tmp_path / "long.mkv", 64, 48, frames=2, fps=30, pts_step=30 * 3600 * 3)
    sentence = assert_json_refusal(site.upload(site.client(), "long.mkv", data), 413)
    assert "frames" in sentence and "shorter" in sentence


def test_an_hls_playlist_is_refused_before_ffmpeg_follows_it(serve, tmp_path):
    """An uploaded playlist naming a local file: FFmpeg would read that file into the result."""
    secret = tmp_path / "secret.mp4"
    write_video(secret, [np.full((48, 64, 3), 200, np.uint8)] * 3)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile://{secret}\n#EXT-X-ENDLIST\n"
    site = serve()
    for name in ("list.m3u8", "list.mp4"):
        assert_json_refusal(site.upload(site.client(), name, playlist.encode()), 415)
    assert site.queue.list() == []


@pytest.mark.parametrize("name, data", [
    ("picture.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
                    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"),
    ("page.html", b"<html><script>alert(1)</script></html>"),
    ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("cut.png", png_bytes(64, 48)[:60]),
    ("zeros.mp4", b"\0" * 4096),
    ("sound.wav", b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00D\xac\x00\x00\x88X\x01\x00\x02\x00\x10\x00"
                  b"data\x00\x00\x00\x00"),
])
def test_what_is_neither_a_supported_image_nor_a_video_is_a_415_sentence(serve, name, data):
    site = serve()
    assert_json_refusal(site.upload(site.client(), name, data), 415)


def test_the_upload_limit_is_max_mb_and_every_refusal_is_json(serve):
    """waitress's own limit comes from --max-mb (it was 1 GiB whatever --max-mb said) and its
    refusal is JSON like the app's; nothing is sent past the headers."""
    site = serve(max_bytes=3 << 30)
    for declared in ((3 << 30) + (1 << 20), 1 << 40):
        with socket.create_connection(("127.0.0.1", site.port), timeout=TIMEOUT) as s:
            s.sendall(f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\nX-CSRF-Token: x\r\n"
                      f"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {declared}\r\n\r\n".encode())
            reply = b"".join(iter(lambda: s.recv(65536), b"")).decode()  # it closes after the refusal
        head, body = reply.split("\r\n\r\n", 1)
        assert " 413 " in head.splitlines()[0] and "application/json" in head, reply
        assert "3072 MB" in body and "--max-mb" in body, body


def test_a_small_limit_refuses_a_larger_file_in_json(serve):
    site = serve(max_bytes=1 << 20)
    response = site.upload(site.client(), "big.png", b"\0" * (2 << 20))
    assert "1 MB" in assert_json_refusal(response, 413)


def test_live_viewers_are_capped_and_the_api_keeps_answering(serve):
    site = serve(live=True, max_viewers=2, live_grace=0.2)
    client = site.client()
    url = f"{site.base}/live.mjpg?csrf={client.headers['X-CSRF-Token']}"
    streams = [client.get(url, stream=True, timeout=TIMEOUT) for _ in range(2)]
    try:
        assert all(s.status_code == 200 for s in streams)
        for _ in range(6):  # more tabs: refused at once, in a sentence
            extra = client.get(url, stream=True, timeout=TIMEOUT)
            assert "close another Live tab" in assert_json_refusal(extra, 503)
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(
            client.get(site.base + "/api/jobs", timeout=10).status_code)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [200] * 8
    finally:
        for s in streams:
            s.close()
    wait_for(lambda: client.get(site.base + "/api/live", timeout=TIMEOUT).json()["viewers"] == 0)
    again = client.get(url, stream=True, timeout=TIMEOUT)
    assert again.status_code == 200
    again.close()


@pytest.mark.slow
def test_viewers_of_a_stopped_pipeline_are_let_go(serve):
    """Live viewers while nothing streams (Stop pressed) leave like any other: the issue's 8
    switches to the Live tab while live was stopped held 8 threads for good."""
    site = serve(live=True, max_viewers=2, live_grace=0.2)
    client = site.client()
    url = f"{site.base}/live.mjpg?csrf={client.headers['X-CSRF-Token']}"
    for _ in range(6):
        stream = client.get(url, stream=True, timeout=TIMEOUT)
        assert stream.status_code == 200
        client.post(site.base + "/api/live/stop", timeout=TIMEOUT)
        stream.close()
        wait_for(lambda: client.get(site.base + "/api/live", timeout=TIMEOUT).json()["viewers"] == 0)


def test_inference_runs_only_while_someone_watches(serve):
    site = serve(live=True, live_grace=0.3)
    client = site.client()
    assert site.controller.state == "stopped"  # not at server start
    stream = client.get(f"{site.base}/live.mjpg?csrf={client.headers['X-CSRF-Token']}", stream=True,
                        timeout=TIMEOUT)
    chunk = next(stream.iter_content(4096))
    assert chunk.startswith(b"--frame") and site.controller.state == "running"
    stream.close()
    wait_for(lambda: site.controller.state == "stopped")
    started = client.post(site.base + "/api/live/start", timeout=TIMEOUT).json()  # Start, nobody watching
    assert started["state"] == "running"
    wait_for(lambda: site.controller.state == "stopped")  # after the grace period


def test_idle_and_half_sent_connections_are_timed_out(serve):
    """More idle connections than the server takes: they are closed after the idle timeout,
    and the page's own request is then served."""
    site = serve(server={"idle_timeout": 1, "connection_limit": 10})
    idle = []
    for i in range(15):
        s = socket.create_connection(("127.0.0.1", site.port), timeout=TIMEOUT)
        s.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n" if i % 2 else b"")
        idle.append(s)
    try:
        assert requests.get(site.base + "/api/session", timeout=TIMEOUT).status_code == 200
        assert idle[0].recv(10) == b""  # closed by the server, not by us
    finally:
        for s in idle:
            s.close()


def wait_for(condition, seconds=TIMEOUT):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not become true"
        time.sleep(0.05)


def test_a_request_thread_that_wakes_the_server_after_it_closed_does_no_harm(tmp_path):
    """A request thread that checked its connection just before close() closed every socket
    then wakes waitress's loop: that used to write into the closed wake-up pipe (OSError EBADF
    in the thread, as CI saw, or a byte into whatever file took that descriptor number since)."""
    from vcam_sr.apps.web import WebServer, create_app
    from vcam_sr.convert.jobs import JobQueue

    queue = JobQueue(tmp_path / "jobs", bicubic)
    web = WebServer(create_app(queue, None, None, max_bytes=1 << 20), port=0).start()
    assert requests.get(f"http://127.0.0.1:{web.port}/", timeout=TIMEOUT).status_code == 200
    web.close()
    queue.close()
    assert not web.thread.is_alive()
    web.listener.pull_trigger()  # what waitress's channel does as a response ends


def test_the_server_closes_even_when_its_wake_up_pipe_is_already_gone(tmp_path):
    """close() woke waitress's loop through its pipe to close the sockets; with that pipe
    already closed (CI saw EBADF there) it raised and left the server listening."""
    from vcam_sr.apps.web import WebServer, create_app
    from vcam_sr.convert.jobs import JobQueue

    queue = JobQueue(tmp_path / "jobs", bicubic)
    web = WebServer(create_app(queue, None, None, max_bytes=1 << 20), port=0).start()
    trigger = web.listener.trigger
    trigger.pull_trigger(trigger.close)  # closed inside the loop's own thread, as waitress would
    deadline = time.monotonic() + TIMEOUT
    while not trigger._closed:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    web.close()
    queue.close()
    assert not web.thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", web.port), timeout=2)
