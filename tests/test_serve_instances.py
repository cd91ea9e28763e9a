"""Several ``herald serve`` on one host share nothing of gunicorn's: no control socket in the home
directory that one instance would remove under another."""

from __future__ import annotations

from redis_server import free_port
from serve_drive import wait_for_health


def test_herald_serve_binds_no_shared_control_socket(herald_env, start_herald, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {name: value for name, value in herald_env.items() if name != "XDG_RUNTIME_DIR"}
    env["HOME"] = str(home)  # gunicorn's default: $HOME/.gunicorn/gunicorn.ctl, one path for every instance
    for _ in range(2):
        port = free_port()
        wait_for_health(start_herald("serve", "--port", port, "--workers", 1, env=env), port)
    assert not (home / ".gunicorn" / "gunicorn.ctl").exists()
    assert list(home.rglob("*.ctl")) == []
