"""Driving webhook deliveries in tests: in-process workers, and the API calls the tests repeat."""

from __future__ import annotations

from drive import QUEUES, CountingWorker
from herald.work.queue import make_worker


class QuickWorker(CountingWorker):
    """drive.CountingWorker without RQ's pub/sub listener (it only carries "stop this job" commands,
    and joining its thread costs up to a second at the end of every burst)."""

    def subscribe(self):
        self.pubsub_thread = None

    def unsubscribe(self):
        pass


def work(redis_client, max_jobs: int = 1000) -> int:
    """Run queued jobs in this process until the queues are empty; returns how many ran."""
    worker = make_worker(redis_client, QUEUES, worker_class=QuickWorker)
    worker.work(burst=True, max_jobs=max_jobs, with_scheduler=False, logging_level="WARNING")
    return worker.performed


def create_webhook(client, tenant, url: str, events=("post.created",), **extra) -> dict:
    """Register a webhook through the API; returns its JSON (with the secret)."""
    response = client.post("/v1/webhooks", headers=tenant.headers, json={"url": url, "events": list(events), **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_post(client, tenant, caption: str = "Hello") -> dict:
    """Create a draft post through the action endpoint (emits ``post.created``)."""
    response = client.post("/api/webhooks", headers=tenant.headers, json={
        "action": "create_post", "client_id": tenant.client.id, "caption": caption, "platforms": "instagram"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def delivery_log(client, tenant, webhook_id: str | None = None, **params) -> list[dict]:
    """The delivery attempts the API shows, newest first."""
    path = f"/v1/webhooks/{webhook_id}/deliveries" if webhook_id else "/v1/webhooks/deliveries"
    response = client.get(path, headers=tenant.headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deliveries"]
