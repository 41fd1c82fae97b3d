"""The local page against other websites and other clients, over real HTTP: DNS rebinding
(foreign Host), cross-site requests (Origin, Referer, no CSRF header), embedding, the access
token, other browsers' jobs, and bad tokens. Each of these got through before the checks."""
import socket

import pytest
import requests

from web_helpers import TIMEOUT, assert_json_refusal, png_bytes, serve  # noqa: F401


def machine_address():
    """An address of this machine that is not loopback, or None (no route here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            return s.getsockname()[0]
        except OSError:
            return None


@pytest.fixture
def site(serve):
    return serve(live=True)


def a_finished_job(site):
    owner = site.client()
    job_id = site.upload(owner, "photo.png", png_bytes()).json()["id"]
    site.wait_job(owner, job_id)
    return owner, job_id


@pytest.mark.parametrize("host", [
    "evil.example:{port}", "evil.example", "127.0.0.1.evil.example:{port}", "localhost.:{port}",
    "127.0.0.1:1", "localhost:{port}@evil.example", "[::2]:{port}", "0.0.0.0:{port}", "{port}",
    "127.0.0.1:{port}/x", "127.0.0.1:abc", "évil.example:{port}", "127.0.0.1:{port}, evil.example"])
def test_a_foreign_host_gets_nothing(site, host):
    """A DNS-rebinding page (evil.example resolving to 127.0.0.1) reads and starts nothing."""
    owner, job_id = a_finished_job(site)
    header = {"Host": host.format(port=site.port)}
    for path in ["/", "/api/jobs", f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/result",
                 f"/api/jobs/{job_id}/input", "/api/session", "/api/live", "/static/page.js", "/live.mjpg"]:
        response = owner.get(site.base + path, headers=header, timeout=TIMEOUT, stream=True)
        assert_json_refusal(response, 403)
        response.close()
    for path in ["/api/jobs", "/api/live/start"]:
        assert_json_refusal(owner.post(site.base + path, headers=header, timeout=TIMEOUT), 403)
    assert site.controller.state == "stopped"


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_its_own_names_are_served(site, host):
    assert site.client().get(site.base + "/", headers={"Host": host.format(port=site.port)},
                             timeout=TIMEOUT).status_code == 200


def test_a_request_without_a_host_header_is_refused(site):
    with socket.create_connection(("127.0.0.1", site.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /api/jobs HTTP/1.0\r\n\r\n")
        reply = s.recv(65536).decode()
    assert reply.startswith("HTTP/1.0 403") or reply.startswith("HTTP/1.1 403"), reply


@pytest.mark.parametrize("headers, with_token", [
    ({"Origin": "http://evil.example"}, True),                  # a cross-site form or fetch
    ({"Origin": "null"}, True),                                 # a sandboxed frame, file://
    ({"Origin": "http://127.0.0.1:1"}, True),                   # another local server
    ({"Origin": "http://localhost:{port}"}, True),              # another name: another origin
    ({"Origin": "https://127.0.0.1:{port}"}, True),
    ({"Referer": "http://evil.example/page"}, True),            # no Origin, a foreign Referer
    ({"Referer": "http://127.0.0.1:{port}.evil.example/"}, True),
    ({"Referer": "http://[::1"}, True),                          # no address at all: was a 500
    ({}, False),                                                # no CSRF header at all
    ({"Origin": "http://127.0.0.1:{port}"}, False),             # its own origin, but no token
    ({"X-CSRF-Token": "guess"}, False),
    ({"X-CSRF-Token": "\u00e9"}, False),
])
def test_state_changes_must_come_from_the_page(site, headers, with_token):
    """Cross-site POST and DELETE (and the stream, which starts the camera) are refused, even
    with the CSRF token when the origin is foreign."""
    owner, job_id = a_finished_job(site)
    csrf = owner.headers.pop("X-CSRF-Token")
    headers = {k: v.format(port=site.port) for k, v in headers.items()}
    if with_token:
        headers["X-CSRF-Token"] = csrf
    before = len(site.queue.list())
    assert_json_refusal(owner.post(site.base + "/api/jobs", files={"file": ("a.png", png_bytes())},
                                   headers=headers, timeout=TIMEOUT), 403)
    assert_json_refusal(owner.delete(f"{site.base}/api/jobs/{job_id}", headers=headers, timeout=TIMEOUT), 403)
    for action in ("start", "stop"):
        assert_json_refusal(owner.post(f"{site.base}/api/live/{action}", headers=headers, timeout=TIMEOUT), 403)
    stream = owner.get(site.base + "/live.mjpg", headers=headers, timeout=TIMEOUT, stream=True)
    assert_json_refusal(stream, 403)
    assert len(site.queue.list()) == before and site.queue.get(job_id) is not None
    assert site.controller.state == "stopped"


def test_the_page_itself_may_change_state(site):
    client = site.client()
    own = {"Origin": site.base, "Referer": site.base + "/"}
    response = client.post(site.base + "/api/jobs", files={"file": ("a.png", png_bytes())},
                           headers=own, timeout=TIMEOUT)
    assert response.status_code == 201
    assert client.delete(f"{site.base}/api/jobs/{response.json()['id']}", headers=own,
                         timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("path", ["/api/jobs", "/api/jobs/{job}/result", "/api/jobs/{job}/input", "/api/live"])
def test_another_site_cannot_embed_or_fetch_the_page_s_data(site, path):
    """<img src=http://127.0.0.1:8300/api/jobs/ID/result> on another site: the browser says
    Sec-Fetch-Site cross-site, and is refused; only a link to the page itself is allowed."""
    owner, job_id = a_finished_job(site)
    cross = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    assert_json_refusal(owner.get(site.base + path.format(job=job_id), headers=cross, timeout=TIMEOUT), 403)
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert owner.get(site.base + "/", headers=link, timeout=TIMEOUT).status_code == 200


def test_each_browser_sees_only_its_own_jobs(site):
    alice, job_id = a_finished_job(site)
    bob = site.client()
    assert bob.get(site.base + "/api/jobs", timeout=TIMEOUT).json() == {"jobs": []}
    for which in ("", "/result", "/input", "/before"):
        assert_json_refusal(bob.get(f"{site.base}/api/jobs/{job_id}{which}", timeout=TIMEOUT), 404)
    assert_json_refusal(bob.delete(f"{site.base}/api/jobs/{job_id}", timeout=TIMEOUT), 404)
    no_cookie = requests.get(f"{site.base}/api/jobs/{job_id}/result", timeout=TIMEOUT)
    assert_json_refusal(no_cookie, 404)
    forged = requests.get(f"{site.base}/api/jobs/{job_id}/result", cookies={"vcam_sr_session": job_id},
                          timeout=TIMEOUT)
    assert_json_refusal(forged, 404)
    assert [j["id"] for j in alice.get(site.base + "/api/jobs", timeout=TIMEOUT).json()["jobs"]] == [job_id]
    assert alice.get(f"{site.base}/api/jobs/{job_id}/result", timeout=TIMEOUT).status_code == 200


def test_job_ids_and_sessions_are_unguessable(site):
    client = site.client()
    ids = {site.upload(client, "a.png", png_bytes()).json()["id"] for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)  # 128 random bits
    cookie = client.cookies["vcam_sr_session"]
    assert len(cookie) >= 43  # 256 bits


@pytest.fixture
def lan(serve):
    """A page on every address, with a token, reached from this machine's LAN address."""
    address = machine_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    site = serve(host="0.0.0.0", token="s3cret-token")
    return site, f"http://{address}:{site.port}"


def test_the_token_is_shown_only_to_a_page_local_by_address_and_host(lan):
    site, remote = lan
    assert "s3cret-token" in requests.get(site.base + "/", timeout=TIMEOUT).text
    host = remote.removeprefix("http://")
    local_address_lan_host = requests.get(site.base + "/", headers={"Host": host}, timeout=TIMEOUT)
    assert local_address_lan_host.status_code == 200 and "s3cret-token" not in local_address_lan_host.text
    foreign = requests.get(site.base + "/", headers={"Host": f"evil.example:{site.port}"}, timeout=TIMEOUT)
    assert foreign.status_code == 403 and "s3cret-token" not in foreign.text
    from_lan = requests.get(remote + "/", headers={"X-Forwarded-For": "127.0.0.1"}, timeout=TIMEOUT)
    assert_json_refusal(from_lan, 401)
    assert "s3cret-token" not in from_lan.text


def test_a_lan_client_with_the_token_gets_a_cookie_and_never_sees_the_token(lan):
    site, remote = lan
    browser = requests.Session()
    first = browser.get(remote + "/?token=s3cret-token", timeout=TIMEOUT, allow_redirects=False)
    assert first.status_code == 303 and first.headers["Location"] == "/"  # out of the address bar
    page = browser.get(remote + "/", timeout=TIMEOUT)
    assert page.status_code == 200 and "s3cret-token" not in page.text
    assert browser.get(remote + "/api/jobs", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("given", ["é", "s3cret-tokeñ", "%FF%FE", "x" * 5000, "", "s3cret-token\x00"])
def test_a_wrong_or_non_ascii_token_is_a_json_401(lan, given):
    _, remote = lan
    for request in ({"params": {"token": given}}, {"headers": {"X-Token": given.encode().decode("latin-1")}},
                    {"cookies": {"vcam_sr_token": given.encode().decode("latin-1")}}):
        response = requests.get(remote + "/api/jobs", timeout=TIMEOUT, **request)
        assert_json_refusal(response, 401, 400)  # 400: waitress refuses a NUL in a header


def test_the_token_rules_hold_in_the_app_itself(tmp_path):
    """The same rules without a LAN address (CI): the app, called with a remote address."""
    from vcam_sr.convert.jobs import JobQueue
    from vcam_sr.apps.web import create_app
    from web_helpers import bicubic

    queue = JobQueue(tmp_path / "jobs", bicubic)
    try:
        app = create_app(queue, token="s3cret", host="0.0.0.0")
        assert "s3cret" in app.test_client().get("/").get_data(as_text=True)
        remote = app.test_client()
        lan = {"REMOTE_ADDR": "192.0.2.7"}
        for given in ("", "?token=%C3%A9", "?token=wrong", "?token=s3cre"):
            response = remote.get("/" + given, environ_base=lan)
            assert response.status_code == 401 and response.is_json and "s3cret" not in response.get_data(as_text=True)
        assert remote.get("/", environ_base=lan, headers={"X-Token": "\xe9"}).status_code == 401
        assert remote.get("/?token=s3cret", environ_base=lan).status_code == 303
        page = remote.get("/", environ_base=lan)  # the cookie carries it now
        assert page.status_code == 200 and "s3cret" not in page.get_data(as_text=True)
        mapped = app.test_client().get("/", environ_base={"REMOTE_ADDR": "::ffff:127.0.0.1"})
        assert "s3cret" in mapped.get_data(as_text=True)  # this machine, over IPv6 sockets
    finally:
        queue.close()
