"""The `gateway` command: run, check, replay, revoke, audit verify|summary, saml
metadata (and `python -m gateway`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import Config, ConfigError, load_config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        n = len(exc.errors)
        print(f"{path}: {n} problem{'s' if n != 1 else ''}:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_BAD_CONFIG
    from gateway.launcher import run

    return run(config, verbose=args.verbose)


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_BAD_CONFIG
    from gateway.checks import deep_check

    warnings: list[str] = []
    problems = deep_check(config, warnings)
    for line in warnings:
        print(f"{args.config}: warning: {line}", file=sys.stderr)
    if problems:
        print(f"{args.config}: {len(problems)} problem(s):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    print(f"{args.config}: ok")
    return EXIT_OK


def _total_bytes(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            pass  # the command itself reports the unreadable file
    return total


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gateway.audit import summary, verify
    from gateway.progress import Progress

    paths = [Path(p) for p in args.paths]
    progress = Progress("verifying", _total_bytes(paths), unit="bytes")
    try:
        result = verify(paths, progress=progress.update)
    finally:
        progress.close()
    print(summary(result))
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_audit_summary(args: argparse.Namespace) -> int:
    import json

    from gateway.audit.summary_report import SummaryError, format_table, summarize, to_json
    from gateway.progress import Progress

    paths = [Path(p) for p in args.paths]
    progress = Progress("summarising", _total_bytes(paths), unit="bytes")
    try:
        report = summarize(paths, progress=progress.update)
    except SummaryError as exc:
        print(f"gateway audit summary: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        progress.close()
    if args.json:
        print(json.dumps(to_json(report), indent=1, ensure_ascii=True))
    else:
        print(format_table(report))
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from gateway.admin.offline import OfflineRevokeError, read_secret, revoke_offline
    from gateway.admin.revoke import check_target

    config = _load(args.config)
    if config is None:
        return EXIT_BAD_CONFIG
    try:
        if args.user is not None:
            target = check_target("user", args.user)
        elif args.session_file is not None:
            target = read_secret(args.session_file, "session")
        else:
            target = read_secret(args.token_file, "token")
        audit_file = Path(args.audit_file).absolute() if args.audit_file else None
        result = asyncio.run(revoke_offline(config, target, audit_file))
    except ValueError as exc:  # a --user the endpoint would refuse too
        print(f"gateway revoke: --user: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except OfflineRevokeError as exc:
        print(f"gateway revoke: {exc}", file=sys.stderr)
        return exc.code
    print(json.dumps(result.answer()))
    return EXIT_OK


ACS_REQUIRED = (
    "saml.sp_acs_url: required to print complete SP metadata (the SAML metadata schema"
    " and Lasso-based IdPs require an AssertionConsumerService); use --fragment to print"
    " only the KeyDescriptor and SingleLogoutService to merge into the SP's own metadata"
)
# sp_metadata's ValueErrors start with its parameter's name; these are their keys.
_METADATA_KEYS = {
    "cert_pem": "saml.sp_cert_file",
    "entity_id": "saml.sp_entity_id",
    "slo_url": "saml.sp_slo_url",
    "acs_url": "saml.sp_acs_url",
}


def cmd_saml_metadata(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_BAD_CONFIG
    saml = config.saml
    if saml.sp_entity_id is None:
        print("saml.sp_entity_id: required to print SP metadata", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if saml.sp_acs_url is None and not args.fragment:
        print(ACS_REQUIRED, file=sys.stderr)
        return EXIT_BAD_CONFIG
    if saml.sign and saml.sp_cert_file is None:
        # Without a KeyDescriptor the IdP cannot verify a single LogoutRequest
        # (Lasso refuses them all: "missing public key").
        print(
            "saml.sp_cert_file: required to print SP metadata while saml.sign is true "
            "(the IdP verifies our signed LogoutRequests with this certificate)",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    from gateway.saml.metadata import sp_metadata, sp_metadata_fragment

    cert = None
    if saml.sp_cert_file is not None:
        try:
            cert = saml.sp_cert_file.read_bytes()
        except OSError as exc:
            print(f"saml.sp_cert_file: cannot read: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_CONFIG
    try:
        if args.fragment:
            document = sp_metadata_fragment(
                entity_id=saml.sp_entity_id, slo_url=saml.sp_slo_url, cert_pem=cert
            )
        else:
            document = sp_metadata(
                entity_id=saml.sp_entity_id,
                slo_url=saml.sp_slo_url,
                cert_pem=cert,
                acs_url=saml.sp_acs_url,
            )
    except ValueError as exc:  # "cert_pem is not a PEM certificate", "slo_url contains …"
        key = _METADATA_KEYS.get(str(exc).split(" ", 1)[0], "saml")
        print(f"{key}: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    text = document.decode()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_BAD_CONFIG
    import asyncio

    from gateway.http import RecordedFlow
    from gateway.mitm import FlowFileError, read_flows
    from gateway.progress import Progress
    from gateway.replay import describe, replay, summary, write_report

    flows: list[tuple[str, RecordedFlow]] = []
    reading = Progress("reading captures", unit="flows")
    try:
        for path in (Path(p) for p in args.files):
            for flow in read_flows(path):
                flows.append((path.name, flow))
                reading.update(len(flows))
    except FlowFileError as exc:
        reading.close()
        print(f"gateway replay: {exc}", file=sys.stderr)
        return EXIT_FAILED
    reading.close()
    # Per-flow lines already say what happened; only real errors go to stderr.
    logging.basicConfig(level=logging.ERROR, format="gateway replay: %(message)s")
    progress = Progress("replaying", len(flows), unit="flows")
    try:
        results = asyncio.run(replay(config, flows, progress=progress.update))
    except ValueError as exc:  # a key file the config names cannot be used
        print(f"gateway replay: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    finally:
        progress.close()
    if not args.quiet:
        for r in results:
            print(describe(r))
        print()
    print(summary(results))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as out:
            write_report(results, out)
    return EXIT_FAILED if any(r.decision == "error" for r in results) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway", description="Logout and session-revocation gateway (mitmproxy addon)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="run the gateway on a lean mitmproxy master")
    p_run.add_argument("--config", default="config.yaml", help="config file (default: config.yaml)")
    p_run.add_argument(
        "-v", "--verbose", action="store_true", help="also log connections (mitmproxy's view)"
    )
    p_run.set_defaults(func=cmd_run)

    p_check = sub.add_parser("check", help="validate a config file, reporting every problem")
    p_check.add_argument("--config", default="config.yaml")
    p_check.set_defaults(func=cmd_check)

    p_audit = sub.add_parser("audit", help="audit log tools")
    audit_sub = p_audit.add_subparsers(dest="audit_command", required=True)
    p_verify = audit_sub.add_parser("verify", help="verify audit files, oldest first")
    p_verify.add_argument("paths", nargs="+", metavar="PATH")
    p_verify.set_defaults(func=cmd_audit_verify)
    p_summary = audit_sub.add_parser(
        "summary", help="count audit records by event, route, reason, outcome and hour"
    )
    p_summary.add_argument("paths", nargs="+", metavar="PATH", help="oldest first")
    p_summary.add_argument("--json", action="store_true", help="one JSON object instead")
    p_summary.set_defaults(func=cmd_audit_summary)

    p_revoke = sub.add_parser(
        "revoke",
        help="revoke a user's credentials, a session or a token in the configured store",
        description="Revoke in the configured (shared) store, without a running gateway. "
        "Session ids and tokens are read from files ('-': stdin), never from the command "
        'line. Prints {"invalidated": N, "previously_invalidated": M}.',
        # No `--session VALUE` read as `--session-file VALUE`: a value typed on the
        # command line must be refused, not taken for a file name.
        allow_abbrev=False,
    )
    p_revoke.add_argument("--config", default="config.yaml")
    what = p_revoke.add_mutually_exclusive_group(required=True)
    what.add_argument("--user", metavar="NAME", help="every credential learned for this user")
    what.add_argument("--session-file", metavar="FILE", help="a file holding one session id")
    what.add_argument("--token-file", metavar="FILE", help="a file holding one token")
    p_revoke.add_argument(
        "--audit-file",
        metavar="PATH",
        help="write the audit record here (its own chain) instead of audit.path; needed "
        "while a gateway holds audit.path",
    )
    p_revoke.set_defaults(func=cmd_revoke)

    p_replay = sub.add_parser(
        "replay", help="show what the gateway would do with captured traffic (offline)"
    )
    p_replay.add_argument("files", nargs="+", metavar="FILE.mitm")
    p_replay.add_argument("--config", default="config.yaml")
    p_replay.add_argument("--report", metavar="OUT.jsonl", help="one JSON object per flow")
    p_replay.add_argument("-q", "--quiet", action="store_true", help="summary only")
    p_replay.set_defaults(func=cmd_replay)

    p_saml = sub.add_parser("saml", help="SAML tools")
    saml_sub = p_saml.add_subparsers(dest="saml_command", required=True)
    p_meta = saml_sub.add_parser("metadata", help="print the SP's SAML metadata for the IdP admin")
    p_meta.add_argument("--config", default="config.yaml")
    p_meta.add_argument(
        "--fragment",
        action="store_true",
        help="print only the KeyDescriptor and SingleLogoutService (in an EntityDescriptor"
        " without AssertionConsumerService) to merge into the SP's own metadata;"
        " saml.sp_acs_url is not needed",
    )
    p_meta.set_defaults(func=cmd_saml_metadata)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `gateway audit summary … | head`: the reader went away. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
