"""``herald serve`` under concurrent keep-alive clients: its threaded workers answer every request, and
every post created is stored once, with its version, on either database."""

from __future__ import annotations

import collections
import http.client
import json
import threading

from redis_server import free_port
from serve_drive import output, wait_for_health

from herald.db.models import Post, PostVersion, db

CLIENTS = 12
REQUESTS_EACH = 40


def test_concurrent_clients_on_threaded_workers_lose_nothing(herald_env, start_herald, tenant):
    port = free_port()
    process = start_herald("serve", "--port", port, "--workers", 2, "--threads", 4,
                           env={**herald_env, "HERALD_RATE_LIMIT": "100000/minute"})
    wait_for_health(process, port)
    headers = {"X-API-Key": tenant.key, "Content-Type": "application/json"}
    statuses: collections.Counter = collections.Counter()
    captions: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # one keep-alive connection
        try:
            for request in range(REQUESTS_EACH):
                if request % 2:
                    body = {"action": "list_posts", "client_id": tenant.client.id, "limit": 5}
                else:
                    body = {"action": "create_post", "client_id": tenant.client.id,
                            "caption": f"client {number} post {request}", "platforms": "instagram"}
                connection.request("POST", "/api/webhooks", body=json.dumps(body), headers=headers)
                response = connection.getresponse()
                answer = json.loads(response.read())
                with lock:
                    statuses[response.status] += 1
                    if response.status == 201:
                        captions.append(answer["post"]["caption"])
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    half = CLIENTS * REQUESTS_EACH // 2
    assert statuses == {201: half, 200: half}, statuses
    with db.connection_context():
        stored = [post.caption for post in Post.select(Post.caption)]
        versions = PostVersion.select().count()
    assert sorted(stored) == sorted(captions) and len(set(stored)) == half
    assert versions == half
    assert "Traceback" not in output(process) and "ERROR" not in output(process), output(process)
