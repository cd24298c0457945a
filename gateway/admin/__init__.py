"""The admin server (SPEC §11): health, metrics, revoke, the status page.

A separate listener on `admin.listen`, served inside the gateway process on
its event loop by tornado (already in the tree through mitmproxy), started and
stopped by the runtime, so `gateway run` and `mitmdump -s` both have it. It
never proxies, and the public port never answers its paths. One concern per
module:

* ``server``      the tornado application: routes → `AdminService`, nothing else;
* ``service``     what each endpoint answers, as neutral `Respond` values;
* ``revoke``      revoke by user/session/token (shared with `gateway revoke`);
* ``offline``     `gateway revoke`: the same against the store, no gateway running;
* ``health``      readiness: store round trip, audit file writable;
* ``prometheus``  the counters of `gateway.metrics` as Prometheus families;
* ``audit_tail``  following the audit file for the status page;
* ``status``      the status snapshot (JSON); ``status_page`` its HTML.
"""
