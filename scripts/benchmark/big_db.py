"""A `gateway run` on the large database the in-process figures built: its
start-up time (PRAGMA quick_check included) and RSS."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .configs import gateway_config, write_config
from .load import Loader
from .processes import BIN, Procs, free_port, wait_port
from .procfs import rss_mb
from .workload import Load


def big_db_process(
    procs: Procs, tmp: Path, up_port: int, loader: Loader, conns: int, n_big: int, db_bytes: int
) -> dict[str, Any]:
    big_db = tmp / "inproc" / "gateway.db"  # filled by in_process_figures
    pf = free_port()
    f_cfg = write_config(
        tmp,
        "f",
        gateway_config(
            tmp, "f", pf, up_port, {"backend": "sqlite", "sqlite_path": str(big_db)}, None, None
        ),
    )
    t0 = time.monotonic()
    fproc = procs.start(
        [str(BIN / "gateway"), "run", "--config", str(f_cfg)],
        tmp / "proxy-f.log",
    )
    wait_port(pf, fproc, 120)
    startup = time.monotonic() - t0
    loader.run(pf, Load("pass"), 1, conns)
    figures = {
        "revocations": n_big,
        "startup_s": startup,
        "rss_mb": rss_mb(fproc.pid),
        "db_bytes": db_bytes,
    }
    procs.stop(fproc)
    return figures
