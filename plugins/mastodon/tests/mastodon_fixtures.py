"""Fixtures of the Mastodon plugin's tests: a fake Mastodon on loopback, Herald's settings to reach it,
Herald's public media links served on loopback (the plugin downloads each file to upload it), and an
account connected on the fake. Each test module imports the ones it uses (a ``conftest.py`` here would
be imported as ``conftest`` and hide Herald's own from the other plugins' tests). ``herald.testing``
itself is loaded by ``-p herald.testing`` (``pyproject.toml``; Herald's ``setup.cfg`` in its suite)."""

from __future__ import annotations

import dataclasses

import pytest
from fake_mastodon import FakeMastodon, HeraldMediaHost
from mastodon_drive import connect


@pytest.fixture
def mastodon():
    with FakeMastodon() as fake:
        yield fake


@pytest.fixture
def media_host():
    with HeraldMediaHost() as host:
        yield host


@pytest.fixture
def herald_config(herald_config, media_host):
    """The kit's settings with the plugin's as these tests need them: the fake is on a loopback address,
    and so are Herald's public media links. (Overriding ``herald_config`` changes the settings of every
    application the kit makes.)"""
    return dataclasses.replace(herald_config, public_url=media_host.url).with_settings(mastodon_allow_private=True)


@pytest.fixture
def client(herald_app, herald_client, media_host):
    media_host.app = herald_app
    return herald_client


@pytest.fixture
def account(client, herald_workspace, mastodon):
    answer = connect(client, herald_workspace, mastodon.url)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]
