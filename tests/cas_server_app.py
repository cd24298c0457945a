"""A real CAS server for the single-logout tests: django-cas-server (PyPI), run
as its own process under a minimal Django project configured here.

    python tests/cas_server_app.py --dir DIR --service-pattern REGEX [--slo-callback URL]

Prints `cas server listening on http://127.0.0.1:PORT/cas` once it serves.
One user, `alice`, whose password comes from the environment variable
CAS_TEST_PASSWORD (never argv, which `ps` shows). The service pattern has
single logout enabled; with `--slo-callback` the CAS server posts its
back-channel logoutRequests there instead of to the service URL (what a
load balancer in front of gateway replicas amounts to).

Nothing is fetched from the network: the new-version check is off, and the
database is a SQLite file in DIR.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

urlpatterns: list[Any] = []  # filled in main(), once Django is configured


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines carry service URLs; the tests read stdout for secrets


def configure(folder: Path, password: str) -> None:
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_hex(32),
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "cas_server",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "cas.db")}
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        STATIC_URL="/static/",
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SESSION_COOKIE_NAME="cas_session",
        CAS_AUTH_CLASS="cas_server.auth.TestAuthUser",
        CAS_TEST_USER="alice",
        CAS_TEST_PASSWORD=password,
        CAS_NEW_VERSION_HTML_WARNING=False,
        CAS_NEW_VERSION_EMAIL_WARNING=False,
        CAS_SLO_TIMEOUT=10,
        LOGGING_CONFIG=None,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--service-pattern", required=True)
    parser.add_argument("--slo-callback", default="")
    args = parser.parse_args()
    password = os.environ.get("CAS_TEST_PASSWORD")
    if not password:
        print("cas_server_app: CAS_TEST_PASSWORD is not set", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    configure(args.dir, password)

    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.urls import include, path

    django.setup()
    urlpatterns.append(path("cas/", include("cas_server.urls", namespace="cas_server")))
    call_command("migrate", verbosity=0, interactive=False)

    from cas_server.models import ServicePattern

    ServicePattern.objects.create(
        name="gateway",
        pattern=args.service_pattern,
        single_log_out=True,
        single_log_out_callback=args.slo_callback,
    )
    server = make_server(
        "127.0.0.1",
        0,
        get_wsgi_application(),
        server_class=ThreadingServer,
        handler_class=QuietHandler,
    )
    print(f"cas server listening on http://127.0.0.1:{server.server_port}/cas", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
