"""The public listener: the Docker token challenge, health, readiness and metrics."""
import requests


def test_v2_base_challenges_without_token(registry):
    r = requests.get(registry.url + "/v2/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{registry.url}/jwt/auth",service="container_registry"')
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert r.headers["X-Request-Id"]


def test_health_and_readiness(registry):
    assert requests.get(registry.url + "/-/health").json() == {"status": "ok"}
    r = requests.get(registry.url + "/-/readiness")
    assert r.status_code == 200
    assert r.json()["checks"] == {"authd": "ok", "metad": "ok", "blobd": "ok"}


def test_metrics_cover_every_daemon(registry):
    requests.get(registry.url + "/v2/")
    text = requests.get(registry.url + "/metrics").text
    assert "# TYPE registry_http_requests_total counter" in text
    assert 'registry_http_requests_total{daemon="gateway",route="v2_base",status="401"}' in text
    for daemon in ("gateway", "authd", "metad", "blobd"):
        assert f'registry_worker_restarts_total{{daemon="{daemon}"}}' in text
    assert "registry_http_request_duration_seconds_bucket" in text



def test_monitoring_only_for_its_allowlist(make_registry):
    # clients outside the list (here: every client) get 404 for /metrics and the bare state of
    # /-/readiness; behind a trusted proxy the forwarded client address is the one that counts
    reg = make_registry(extra_config={"gateway": {
        "monitoring_allowlist": "10.20.0.0/16", "trusted_proxies": "127.0.0.1",
        "forwarded_hosts": "registry.example.com"}}).start()
    r = requests.get(reg.url + "/metrics")
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    assert "registry_http_requests_total" not in r.text
    r = requests.get(reg.url + "/-/readiness")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    inside = {"X-Forwarded-For": "10.20.3.4"}
    r = requests.get(reg.url + "/metrics", headers=inside)
    assert r.status_code == 200 and "registry_http_requests_total" in r.text
    assert requests.get(reg.url + "/-/readiness", headers=inside).json()["checks"]["metad"] == "ok"
    assert requests.get(reg.url + "/-/health").status_code == 200

def test_unknown_paths_answer_in_their_dialect(registry):
    r = requests.get(registry.url + "/nope")
    assert r.status_code == 404 and r.json() == {"message": "404 Not Found"}
    r = requests.get(registry.url + "/v2/acme/web/blobs/uploads/x/y",
                     headers={"Authorization": "Bearer x"})
    assert r.status_code in (400, 401, 404)
    assert "errors" in r.json()
