"""irctest controller for samtal's IRC gateway.

irctest (https://github.com/progval/irctest) is the IRC server
compliance suite. This module is its controller for samtal: like the
controllers irctest ships for other servers, it writes a fresh
configuration and starts a fresh samtal for each test. Run it from an
irctest checkout with this directory on PYTHONPATH; see README.md,
"IRC gateway", for the exact command and the results.

The samtal binary is $SAMTAL_BIN, or `samtal` on PATH.
"""

import atexit
import os
import shutil
import subprocess
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController

TEMPLATE_CONFIG = """
data_dir = "{data}"
log_level = "warn"
registration = "closed"
scram_iterations = 4096

[listen]
c2s = []
c2s_tls = []
admin = ""

[s2s]
enabled = false

[turn]
enabled = false

[bytestreams]
enabled = false

# No web server: a server that a test left running would hold its port,
# and every later one would fail to start.
[web]
https = []
http = []

[upload]
enabled = false

[[host]]
domain = "localhost"

[limits]
unauth_per_ip = 1000

[irc]
listen = [{tls_listen}]
listen_plain = [{plain_listen}]
# irctest listens on the wildcard address.
allow_plaintext = true
server_name = "My.Little.Server"
motd = "samtal under irctest"
guests = true
persistent_channels = {persistent}
public_addresses = true
line_rate = 1000
"""


# Servers still running when pytest ends: a test that skips itself in
# its set-up never has its controller killed.
_running: Set[subprocess.Popen] = set()


@atexit.register
def _stop_all() -> None:
    for proc in list(_running):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def samtal_binary() -> str:
    return os.environ.get("SAMTAL_BIN") or shutil.which("samtal") or "samtal"


class SamtalController(BaseServerController, DirectoryBasedController):
    software_name = "samtal"
    supported_sasl_mechanisms: Set[str] = {"PLAIN", "SCRAM-SHA-256"}
    supports_sts = False

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
    ) -> None:
        if password is not None:
            # samtal has accounts, not a server password.
            raise NotImplementedByController("PASS")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        assert self.directory
        listen = '"{}:{}"'.format(hostname, port)
        self.config_path = self.directory / "samtal.toml"
        with self.open_file("samtal.toml") as fd:
            fd.write(
                TEMPLATE_CONFIG.format(
                    data=self.directory / "data",
                    tls_listen=listen if ssl else "",
                    plain_listen="" if ssl else listen,
                    persistent="true" if self.test_config.chathistory else "false",
                )
            )
        self.proc = self.execute(
            [samtal_binary(), "serve", "--config", str(self.config_path)]
        )
        _running.add(self.proc)
        self.wait_for_port()

    def wait_for_services(self) -> None:
        # Accounts are samtal's own: there are no separate services.
        pass

    def registerUser(self, case, username: str, password: Optional[str] = None) -> None:
        # An account is made with samtal's own command, as an operator
        # would; the running server sees it at once.
        subprocess.run(
            [samtal_binary(), "user", "add", "--config", str(self.config_path),
             "{}@localhost".format(username)],
            input=((password or "sesame") + "\n").encode(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def get_irctest_controller_class() -> Type[SamtalController]:
    return SamtalController
