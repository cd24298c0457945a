"""Issue 15: `gateway replay` shows progress on a terminal, nothing otherwise."""

from __future__ import annotations

import re
import subprocess
import sys

from test_replay_addon import config_for_replay
from ttyrun import run_with_tty_stderr

from gateway.progress import CLEAR_LINE

BIN = [sys.executable, "-m", "gateway"]


def test_replay_shows_progress_on_a_terminal(tmp_path, flows):
    config = config_for_replay(tmp_path)
    argv = [*BIN, "replay", str(flows["cas"]), str(flows["saml"]), "--config", str(config), "-q"]
    code, out, tty = run_with_tty_stderr(argv)
    assert code == 0 and " flows: " in out
    assert "reading captures: 1 flows" in tty
    assert re.search(r"replaying: +\d+% \(\d+ of \d+ flows\)", tty), tty
    assert tty.endswith(CLEAR_LINE)


def test_replay_is_quiet_without_a_terminal(tmp_path, flows):
    config = config_for_replay(tmp_path)
    result = subprocess.run(
        [*BIN, "replay", str(flows["cas"]), "--config", str(config), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stderr == ""
