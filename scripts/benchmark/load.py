"""Load: wrk when installed, else `bench.py load` (the asyncio client). Both
print one line "BENCH {json}" with requests, duration and latency."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from children import child_env

from .processes import bench_subcommand
from .procfs import pin
from .workload import PASS_HEADERS, PASS_PATH, Load

WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"lat_mean_us":%.1f,"lat_p50_us":%.1f,"lat_p99_us":%.1f,"lat_max_us":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

WRK_CAS = r"""
local prefix, n = "x", 0
init = function(args) prefix = args[1] or prefix end
request = function()
  n = n + 1
  local sid = prefix .. "-" .. n
  return wrk.format("POST", "/cas/logout", {
    ["Cookie"] = "lang=en-US; JSESSIONID=" .. sid .. "; theme=dark",
    ["Authorization"] = "Bearer tok-" .. sid}, "")
end
"""

WRK_SAML = r"""
local prefix, start, n = "x", 0, 0
init = function(args) prefix = args[1] or prefix; start = tonumber(args[2] or "0") end
request = function()
  local body = '{"token":"' .. prefix .. (start + n) .. '"}'
  n = n + 1
  return wrk.format("POST", "/_security/saml/logout",
    {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Loader:
    """Runs one load window against a port with whichever load tool there is."""

    tmp: Path
    cpus: str | None
    wrk: str | None

    def __post_init__(self) -> None:
        self.scripts: dict[str, Path] = {}
        for name, body in (("pass", ""), ("cas", WRK_CAS), ("saml", WRK_SAML)):
            path = self.tmp / f"wrk-{name}.lua"
            path.write_text(body + WRK_DONE)
            self.scripts[name] = path

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "asyncio client (bench.py load)"

    def argv(self, port: int, load: Load, duration: float, conns: int) -> list[str]:
        if self.wrk:
            argv = [*pin(self.cpus), self.wrk, "-t1", f"-c{conns}", f"-d{duration}s"]
            if load.kind == "pass":
                for k, v in PASS_HEADERS:
                    argv += ["-H", f"{k}: {v}"]
            argv += ["-s", str(self.scripts[load.kind]), f"http://127.0.0.1:{port}{PASS_PATH}"]
            if load.kind != "pass":
                argv += ["--", load.prefix, str(load.start)]
            return argv
        return [
            *pin(self.cpus),
            *bench_subcommand(
                "load",
                "--port",
                str(port),
                "--kind",
                load.kind,
                "--prefix",
                load.prefix,
                "--start",
                str(load.start),
                "--duration",
                str(duration),
                "--conns",
                str(conns),
            ),
        ]

    def run(self, port: int, load: Load, duration: float, conns: int) -> dict[str, Any]:
        # wrk's -d takes whole seconds
        if self.wrk:
            duration = max(1, round(duration))
        out = subprocess.run(
            self.argv(port, load, duration, conns),
            capture_output=True,
            text=True,
            timeout=duration + 60,
            env=child_env(),  # like every child of ours (scripts/children.py)
        )
        for line in out.stdout.splitlines():
            if line.startswith("BENCH "):
                return dict(json.loads(line[6:]))
        raise RuntimeError(f"load generator failed: {out.stdout[-500:]} {out.stderr[-500:]}")
