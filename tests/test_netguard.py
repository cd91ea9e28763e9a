"""The SSRF guard (herald.net.guard): tricky URLs, DNS answers, pinning, redirects."""

from __future__ import annotations

import pytest

from fakes.receiver import Receiver, Reply
from herald.net import guard as netguard
from herald.net import http as outbound

PUBLIC = "93.184.216.34"


def public_resolver(host, port):
    return [PUBLIC]


REFUSED = [
    # loopback in every spelling
    "http://127.0.0.1/", "http://127.1/", "http://127.0.1/", "http://2130706433/", "http://0x7f000001/",
    "http://0x7f.0.0.1/", "http://0177.0.0.1/", "http://0177.0000.0000.0001/", "http://127.0.0.1./",
    "http://127。0。0。1/", "http://１２７.０.０.１/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/",
    "http://localhost/", "http://LOCALHOST/", "http://localhost./", "http://sub.localhost/", "https://localhost:8443/",
    # IPv4 inside IPv6
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::127.0.0.1]/", "http://[64:ff9b::127.0.0.1]/", "http://[2002:7f00:1::]/", "http://[::ffff:a9fe:a9fe]/",
    # unspecified, private, CGNAT, ULA
    "http://0/", "http://0.0.0.0/", "http://[::]/", "http://10.0.0.1/", "http://172.16.0.1/", "http://172.31.255.255/",
    "http://192.168.1.1/", "http://100.64.0.1/", "http://[fc00::1]/", "http://[fd12:3456::1]/",
    # link-local and cloud metadata
    "http://169.254.169.254/latest/meta-data/", "http://0xa9fea9fe/", "http://2852039166/",
    "http://0251.0376.0251.0376/", "http://169.254.0.1/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
    "http://metadata.google.internal/computeMetadata/v1/", "http://metadata.google.internal./",
    "http://[fd00:ec2::254]/", "http://100.100.100.200/",
    # multicast, broadcast, reserved, documentation, benchmarking
    "http://224.0.0.1/", "http://239.255.255.250/", "http://255.255.255.255/", "http://240.0.0.1/",
    "http://[ff02::1]/", "http://192.0.2.1/", "http://198.18.0.1/", "http://[2001:db8::1]/",
    # not http(s), credentials, malformed
    "file:///etc/passwd", "gopher://127.0.0.1:25/", "ftp://example.com/", "dict://example.com:11211/",
    "javascript:alert(1)", "//example.com/", "http:///path", "http://user:pw@example.com/",
    "http://example.com@127.0.0.1/", "http://127.0.0.1:80@example.com/", "http://exa mple.com/",
    "http://example.com\t/", "http://example.com:99999/", "http://example.com:-1/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_tricky_urls_are_refused(url):
    with pytest.raises(netguard.BlockedURL):
        netguard.check_url(url, resolver=public_resolver)


def test_the_corpus_is_large():
    assert len(REFUSED) >= 30


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/",
                                 "http://[::ffff:169.254.169.254]/", "http://metadata.google.internal/",
                                 "http://224.0.0.1/"])
def test_allow_private_never_allows_link_local_or_metadata(url):
    with pytest.raises(netguard.BlockedURL):
        netguard.check_url(url, allow_private=True, resolver=public_resolver)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://10.1.2.3/", "http://[::1]/",
                                 "http://localhost/", "http://192.168.0.10/"])
def test_allow_private_lets_loopback_and_private_ranges_through(url):
    assert netguard.check_url(url, allow_private=True, resolver=lambda h, p: ["127.0.0.1"]).addresses


@pytest.mark.parametrize("answers", [["10.0.0.5"], ["127.0.0.1"], ["169.254.169.254"], [PUBLIC, "192.168.1.1"],
                                     ["::1"], ["::ffff:10.0.0.1"], ["fe80::1%eth0"]])
def test_names_resolving_to_a_refused_address_are_refused(answers):
    with pytest.raises(netguard.BlockedURL, match="resolves to"):
        netguard.check_url("https://hooks.example.com/x", resolver=lambda h, p: answers)


def test_public_urls_pass_with_every_address_checked():
    target = netguard.check_url("https://Hooks.Example.com:8443/in?x=1",
                                resolver=lambda h, p: [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"])
    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/in?x=1")
    assert target.host_header == "hooks.example.com:8443"
    assert target.addresses == (PUBLIC, "2606:2800:220:1:248:1893:25c8:1946")


def test_an_unresolvable_name_is_reported_as_such():
    def fail(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(netguard.Unresolvable):
        netguard.check_url("https://nowhere.invalid/", resolver=fail)


def test_the_connection_goes_to_the_checked_address_not_a_fresh_dns_answer():
    """DNS rebinding: the name is looked up once; the request goes to that checked address with the
    original Host header, whatever the name would resolve to afterwards."""
    with Receiver() as receiver:
        lookups = []

        def rebinding(host, port):
            lookups.append(host)
            return ["127.0.0.1"] if len(lookups) == 1 else ["169.254.169.254"]

        target = netguard.check_url(f"http://hooks.example.test:{receiver.port}/in", allow_private=True,
                                    resolver=rebinding)
        response = outbound.post(target, b"{}", {"Content-Type": "application/json"}, timeout=5)
        assert response.status == 200 and lookups == ["hooks.example.test"]
        assert receiver.received()[0].headers["Host"] == f"hooks.example.test:{receiver.port}"


def test_redirects_to_private_addresses_are_returned_not_followed():
    with Receiver() as inside, Receiver() as receiver:
        receiver.script = [Reply(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
                           Reply(301, headers={"Location": inside.url("/admin")})]
        target = netguard.check_url(receiver.url(), allow_private=True)
        assert outbound.post(target, b"{}", {}, timeout=5).status == 307
        assert outbound.post(target, b"{}", {}, timeout=5).status == 301
        assert inside.received() == [] and len(receiver.received()) == 2


def test_a_refused_connection_raises():
    with Receiver() as receiver:
        target = netguard.check_url(receiver.url(), allow_private=True)
        receiver.go_down()
        with pytest.raises(outbound.SendFailed):  # nothing was sent: safe to try again
            outbound.post(target, b"{}", {}, timeout=5)
