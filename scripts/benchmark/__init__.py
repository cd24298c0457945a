"""The gateway's performance benchmark (`scripts/bench`; docs/performance.md).

Run through scripts/bench.py, whose folder (scripts/) is then on sys.path: the
package imports `children` and `redis_server` from there. By concern:

  cli            `bench.py` subcommands: run, and the children lean/upstream/load/memrss
  run            `bench.py run`: the order of everything below, the JSON output
  processes      starting, waiting for and stopping children; ports
  procfs         CPU time and RSS from /proc; pinning to CPUs
  services       the upstream (nginx or upstream_server) and redis-server
  upstream_server  `bench.py upstream`: the asyncio fallback upstream
  load           wrk or `bench.py load`, one load window at a time
  load_client    `bench.py load`: the asyncio fallback load client
  workload       what the requests carry; the upstream's answer
  configs        gateway config files and SP signing keys
  proxies        the proxies (a)-(e): defined, seeded, started
  seeding        bulk rows straight into a gateway's SQLite database
  rounds         the interleaved load windows and their medians
  redis_stall    credential-free requests while Redis is blocked
  in_process     everything that runs gateway code (with metrics_cost, the only importers of `gateway`)
  metrics_cost   what the metrics (decision counter, timed store) cost the request hook
  timing         timing calls in this process
  big_db         `gateway run` on the large database: start-up and RSS
  stats          median
  machine        the machine line of the report
  targets        PASS/MISS of each target
  report         the text report
"""
