"""course_lib.lab and `course lab`: the command, the shipped settings, ports, stopping a server."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_lib import cli, doctor, lab
from course_lib.errors import CourseError

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"


def _option(cmd, name):
    return next(a.split("=", 1)[1] for a in cmd if a.startswith(f"--{name}="))


def test_lab_command_serves_the_course_root_from_this_environment():
    cmd = lab.lab_command(8123, ip="127.0.0.1", open_browser=False, extra=["--debug"])
    assert Path(cmd[0]).parent == Path(sys.executable).parent and cmd[1] == "lab"
    # The course root, not notebooks/: lessons link to ../exercises/.
    root = Path(_option(cmd, "ServerApp.root_dir"))
    assert root == lab.course_root() == ROOT
    assert (root / "notebooks").is_dir() and (root / "exercises").is_dir()
    assert _option(cmd, "FileContentsManager.preferred_dir") == "notebooks"  # where it opens
    assert _option(cmd, "ServerApp.port") == "8123"
    assert _option(cmd, "ServerApp.port_retries") == "0"  # the printed URL's port, or fail
    assert _option(cmd, "ServerApp.ip") == "127.0.0.1"
    assert _option(cmd, "ServerApp.open_browser") == "False"
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)
    assert cmd[-1] == "--debug"
    assert not any("token" in a.lower() for a in cmd), "the token belongs in the environment"


def test_lab_command_defaults_leave_port_and_browser_to_jupyter():
    cmd = lab.lab_command()
    assert not any(a.startswith(("--ServerApp.port", "--ServerApp.ip")) for a in cmd)
    assert "--ServerApp.open_browser=False" not in cmd


def test_lab_command_opens_notebooks_only_where_there_are_some(tmp_path):
    cmd = lab.lab_command(root=tmp_path)
    assert _option(cmd, "ServerApp.root_dir") == str(tmp_path)
    assert not any("preferred_dir" in a for a in cmd)  # jupyter would refuse a missing folder


def test_lab_env_puts_the_course_settings_on_the_config_path():
    env = lab.lab_env("abc", base={"JUPYTER_CONFIG_PATH": "/x", "KEEP": "1"}, COURSE_MODE="smoke")
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(lab.CONFIG_DIR), "/x"]
    assert env["JUPYTER_TOKEN"] == "abc" and env["KEEP"] == "1" and env["COURSE_MODE"] == "smoke"
    again = lab.lab_env(base=env)  # no duplicate entry when nested
    assert again["JUPYTER_CONFIG_PATH"] == env["JUPYTER_CONFIG_PATH"]
    assert "JUPYTER_CONFIG_PATH" in lab.lab_env(base={})


def test_lab_url():
    assert lab.lab_url(8888, "t0k", "notebooks/a.ipynb") == (
        "http://127.0.0.1:8888/lab/tree/notebooks/a.ipynb?token=t0k"
    )
    assert lab.lab_url(1, "t", host="localhost") == "http://localhost:1/lab/?token=t"


def _load(name):
    return json.loads((lab.CONFIG_DIR / name).read_text(encoding="utf-8"))


def test_shipped_server_settings():
    server = _load("jupyter_server_config.json")
    assert server["MappingKernelManager"]["default_kernel_name"] == doctor.KERNEL_NAME
    assert server["LabApp"]["news_url"] is None
    module, _, name = server["LabApp"]["check_for_updates_class"].rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name).__name__ == "NeverCheckForUpdate"
    assert _load("labconfig/page_config.json") == {"buildAvailable": False, "buildCheck": False}


def test_shipped_lab_settings_match_jupyterlabs_schemas():
    import jsonschema  # nbformat's own dependency: always there, never a reason to skip
    overrides = _load("labconfig/default_setting_overrides.json")
    assert overrides["@jupyterlab/notebook-extension:tracker"]["windowingMode"] == "none"
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert overrides["@jupyterlab/apputils-extension:themes"]["theme"] == "JupyterLab Light"
    for plugin, values in overrides.items():
        package, _, name = plugin.partition(":")
        schema_file = SCHEMAS / package / f"{name}.json"
        assert schema_file.is_file(), f"{plugin}: no such JupyterLab settings schema"
        properties = json.loads(schema_file.read_text(encoding="utf-8"))["properties"]
        for key, value in values.items():
            assert key in properties, f"{plugin} has no setting {key!r}"
            jsonschema.validate(value, properties[key])


def test_jupyter_reads_the_shipped_settings(monkeypatch):
    """The labconfig files are found through JUPYTER_CONFIG_PATH, as the server finds them."""
    from jupyter_server.services.config.manager import ConfigManager

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", lab.lab_env(base={})["JUPYTER_CONFIG_PATH"])
    labconfig = ConfigManager(config_dir_name="labconfig")
    assert labconfig.get("page_config")["buildCheck"] is False
    overrides = labconfig.get("default_setting_overrides")
    assert overrides["@jupyterlab/notebook-extension:tracker"] == {"windowingMode": "none"}


def test_free_port_is_bindable_and_prefers_the_asked_one():
    port = lab.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert lab.free_port(port) != port  # taken: another one
    assert lab.free_port(port) == port  # free again


def test_stop_server_ends_its_group_and_processes_in_other_sessions(tmp_path):
    """Like a Jupyter server: a child in its own session (a kernel) must go too."""
    pids = tmp_path / "pids"
    script = (
        "import subprocess, sys, time\n"
        "k = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "g = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{k.pid}} {{g.pid}}')\n"
        "time.sleep(300)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 20
    while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    children = [int(p) for p in pids.read_text().split()]
    below = lab.descendants(server.pid)
    assert set(children) <= set(below)
    assert all(lab.is_alive(pid, below[pid]) for pid in children)
    assert not lab.is_alive(children[0], "0")  # same pid, another start time: not that process
    lab.stop_server(server, grace_s=2)
    assert server.returncode is not None
    deadline = time.monotonic() + 5
    while any(lab.is_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in children if lab.is_alive(p)]


def test_wait_until_ready_reports_a_server_that_exits(tmp_path):
    log = tmp_path / "lab.log"
    log.write_text("[E] something went wrong\n")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    server = lab.LabServer(process, lab.free_port(), "t", log)
    with pytest.raises(CourseError, match=r"exited with code 3(.|\n)*something went wrong"):
        lab.wait_until_ready(server, timeout_s=5)


def test_cli_lab_prints_the_url_and_passes_options_through(monkeypatch, capsys):
    seen = {}

    class FakePopen:
        def __init__(self, cmd, env):
            seen.update(cmd=cmd, env=env)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def wait(self):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakePopen)
    assert cli.main(["lab", "--port", "8765", "--no-browser", "--ServerApp.ip=0.0.0.0"]) == 0
    out = capsys.readouterr().out
    token = seen["env"]["JUPYTER_TOKEN"]
    assert f"http://localhost:8765/lab/?token={token}" in out
    assert str(lab.course_root()) in out
    assert "--ServerApp.port=8765" in seen["cmd"] and "--ServerApp.ip=0.0.0.0" in seen["cmd"]
    assert "--ServerApp.open_browser=False" in seen["cmd"]
    assert seen["env"]["JUPYTER_CONFIG_PATH"].startswith(str(lab.CONFIG_DIR))


def test_cli_other_commands_still_reject_unknown_options():
    with pytest.raises(SystemExit):
        cli.main(["report", "--bogus"])
