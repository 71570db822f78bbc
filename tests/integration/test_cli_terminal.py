"""`berth terminal` and `berth exec` end to end: a real berthd, a real
berth-runner on this host (server host-1, ACTIVE), and the real CLI.

`berth terminal` runs under a real pseudo-terminal (os.openpty) whose
size the test sets: `stty size` inside shows it, a new size plus SIGWINCH
reaches the shell, `exit 3` makes berth exit 3, and the terminal's modes
after berth are the ones before (raw mode undone) - also when berth is
killed with SIGTERM or berthd goes away mid-session. Refusals (a viewer,
a developer on the host, an unknown server) print berthd's reason, exit
with the documented code and leave the terminal untouched. Off a terminal
stdin is sent as it is (and the shell's `exit` ends the session).

`berth exec`: stdout, stderr and the exit code; --json; a timeout; a
developer refused on the host; usage errors before anything is sent.
"""
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import tempfile
import termios
import time
import unittest

from harness import BERTH, RUNNER, Berthd, RunnerCase, wait_for



def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyBerth:
    """berth with stdin and stdout on a pseudo-terminal; stderr on a pipe."""

    def __init__(self, args, env, rows=24, cols=80):
        self.master, self.slave = os.openpty()
        set_size(self.slave, rows, cols)
        self.modes = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen([BERTH] + args, stdin=self.slave, stdout=self.slave,
                                     stderr=subprocess.PIPE, env=env)
        self.out = b""

    def read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if r:
            try:
                self.out += os.read(self.master, 65536)
            except OSError:  # EIO: nobody holds the slave any more
                time.sleep(timeout)

    def until(self, text, timeout=15):
        deadline = time.time() + timeout
        while text.encode() not in self.out:
            if time.time() > deadline:
                raise AssertionError("timed out waiting for %r; output: %r; stderr: %r" %
                                     (text, self.out[-2000:], self.stderr_now()))
            self.read(0.2)

    def type(self, text):
        os.write(self.master, text.encode())

    def wait(self, timeout=20):
        """Waits for berth to exit, reading its output meanwhile."""
        deadline = time.time() + timeout
        while self.proc.poll() is None:
            if time.time() > deadline:
                self.proc.kill()
                raise AssertionError("berth did not exit; output: %r" % self.out[-2000:])
            self.read(0.1)
        self.read(0)
        self.err = self.proc.stderr.read().decode()
        return self.proc.returncode

    def stderr_now(self):
        return "(running)" if self.proc.poll() is None else self.proc.stderr.read().decode()

    def modes_now(self):
        return termios.tcgetattr(self.slave)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        os.close(self.master)
        os.close(self.slave)


class CliTerminal(RunnerCase):
    state_prefix = "berth-cli-term-"

    def setUp(self):
        super().setUp()
        self.ptys = []

    def tearDown(self):
        for p in self.ptys:
            p.close()
        super().tearDown()

    def env(self, token=None):
        e = dict(os.environ, BERTH_URL=self.b.url, BERTH_TOKEN=token or self.tok,
                 BERTH_ORG=self.b.org, BERTH_CONFIG=os.path.join(self.state.name, "cfg.json"))
        e.pop("BERTH_CACERT", None)
        return e

    def pty(self, args, token=None, **kw):
        p = PtyBerth(args, self.env(token), **kw)
        self.ptys.append(p)
        return p

    def berth(self, args, token=None, stdin=None, timeout=60):
        return subprocess.run([BERTH] + args, env=self.env(token), input=stdin,
                              capture_output=True, timeout=timeout)

    # ---- berth terminal ----

    def test_terminal_size_resize_exit_restores(self):
        p = self.pty(["terminal", "host-1"], rows=30, cols=100)
        p.type("stty size; echo mark-$((6*7))\r")
        p.until("mark-42")
        self.assertIn(b"30 100", p.out)
        self.assertNotEqual(p.modes_now(), p.modes)  # raw mode while the session runs
        set_size(p.slave, 43, 132)
        p.proc.send_signal(signal.SIGWINCH)
        time.sleep(0.5)
        p.type("stty size; echo mark-$((6*8))\r")
        p.until("mark-48")
        self.assertIn(b"43 132", p.out)
        p.type("exit 3\r")
        self.assertEqual(p.wait(), 3, p.err)
        self.assertEqual(p.modes_now(), p.modes)  # the terminal as it was

    def test_terminal_sigterm_and_berthd_gone_restore(self):
        p = self.pty(["terminal", "host-1"])
        p.type("echo up-$((1+1))\r")
        p.until("up-2")
        p.proc.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 1)
        self.assertIn("signal", p.err)
        self.assertEqual(p.modes_now(), p.modes)

        p = self.pty(["terminal", "host-1"])
        p.type("echo up-$((2+2))\r")
        p.until("up-4")
        self.b.proc.kill()
        self.b.proc.wait()
        self.assertEqual(p.wait(), 1)
        self.assertTrue(p.err.startswith("berth: "), p.err)
        self.assertEqual(p.modes_now(), p.modes)
        self.b.start()  # for tearDown

    def test_terminal_refusals_leave_the_terminal_alone(self):
        viewer = self.b.add_user(self.tok, self.b.org, "viewer@example.com", "viewer")
        dev = self.b.add_user(self.tok, self.b.org, "dev@example.com", "developer")
        for args, token, code, words in [
                (["terminal", "host-1"], viewer, 3, "container:exec"),
                (["terminal", "host-1"], dev, 3, "terminal:open"),
                (["terminal", "nosuch"], None, 4, ""),
                (["terminal", "host-1"], "bts_not_a_real_token", 3, ""),
                (["terminal", "host-1", "--container", "a", "--app", "b"], None, 2, "not both")]:
            p = self.pty(args, token=token)
            self.assertEqual(p.wait(), code, (args, p.err))
            self.assertTrue(p.err.startswith("berth: "), p.err)
            self.assertIn(words, p.err)
            self.assertNotIn(self.tok, p.err + p.out.decode("utf-8", "replace"))
            self.assertEqual(p.modes_now(), p.modes)
        # nothing was opened for any of them
        r = self.api("GET", "/audit?action=server.terminal.open")
        self.assertEqual(r.json["items"], [], r.json)

    def test_terminal_piped_stdin(self):
        r = self.berth(["terminal", "host-1"],
                       stdin=b"echo piped-$((2+3))\nexit 4\n")
        self.assertEqual(r.returncode, 4, r)
        self.assertIn(b"piped-5", r.stdout)
        r = self.berth(["terminal", "host-1"], stdin=b"echo last-$((3+3)); exit\n")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(b"last-6", r.stdout)

    # ---- berth exec ----

    def test_exec(self):
        r = self.berth(["exec", "host-1", "--", "sh", "-c", "echo out; echo err >&2; exit 7"])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (7, b"out\n", b"err\n"), r)
        r = self.berth(["exec", "host-1", "--json", "--", "sh", "-c", "echo hi"])
        self.assertEqual(r.returncode, 0, r)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"], doc)
        self.assertEqual((doc["data"]["exit_code"], doc["data"]["stdout"]), (0, "hi\n"), doc)
        self.assertEqual(r.stdout.count(b"\n"), 1)  # one document
        r = self.berth(["exec", "host-1", "--timeout", "1", "--", "sleep", "30"])
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"timed out", r.stderr)
        r = self.berth(["exec", "host-1", "--", "sh", "-c", "exit 255"])
        self.assertEqual(r.returncode, 255, r)

    def test_exec_refusals(self):
        dev = self.b.add_user(self.tok, self.b.org, "dev@example.com", "developer")
        r = self.berth(["exec", "host-1", "--", "id"], token=dev)
        self.assertEqual(r.returncode, 3, r)
        self.assertIn(b"server:exec", r.stderr)
        r = self.berth(["exec", "host-1", "--json", "--", "id"], token=dev)
        self.assertEqual(r.returncode, 3, r)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "forbidden")
        for args in [["exec", "host-1"], ["exec", "host-1", "--container", "a", "--app", "b",
                                          "--", "id"],
                     ["exec", "host-1", "--timeout", "901", "--", "id"],
                     ["exec", "host-1", "--timeout", "x", "--", "id"]]:
            r = self.berth(args)
            self.assertEqual(r.returncode, 2, (args, r))
        r = self.berth(["exec", "nosuch", "--", "id"])
        self.assertEqual(r.returncode, 4, r)
        r = self.berth(["exec", "host-1", "--dry-run", "--json", "--", "id", "-u"])
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(json.loads(r.stdout)["data"]["request"]["body"],
                         {"command": ["id", "-u"], "timeout_s": 60})
        ran = [e for e in self.api("GET", "/audit?action=server.exec").json["items"]
               if e["outcome"] == "success"]
        self.assertEqual(ran, [])


class CliTerminalTLS(unittest.TestCase):
    """wss:// for an https:// berthd, verified against --cacert."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="berth-cli-term-tls-")
        self.cert = os.path.join(self.tmp.name, "cert.pem")
        key = os.path.join(self.tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key,
                        "-out", self.cert], check=True, capture_output=True)
        self.b = Berthd(env={"BERTH_HEARTBEAT_S": "1"}, tls=(self.cert, key)).start()
        self.tok = self.b.login()
        r = self.b.request("POST", "/api/v1/orgs/%s/servers" % self.b.org, token=self.tok,
                           body={"name": "host-1"})
        self.assertEqual(r.status, 201, r)
        log = open(os.path.join(self.tmp.name, "runner.log"), "ab")
        self.runner = subprocess.Popen(
            [RUNNER, "--url", "wss://127.0.0.1:%d/runner/v1" % self.b.port, "--ca-file",
             self.cert, "--state-dir", os.path.join(self.tmp.name, "state"),
             "--min-free-disk", "0"],
            env=dict(os.environ, BERTH_RUNNER_TOKEN=r.json["registration_token"]),
            stdout=log, stderr=log)
        log.close()
        self.assertTrue(wait_for(lambda: self.b.request(
            "GET", "/api/v1/orgs/%s/servers/host-1" % self.b.org,
            token=self.tok).json["status"] == "ACTIVE", 20))

    def tearDown(self):
        if self.runner.poll() is None:
            self.runner.terminate()
            self.runner.wait(10)
        self.b.close()
        self.tmp.cleanup()

    def berth(self, args, stdin=None):
        env = dict(os.environ, BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org,
                   BERTH_CONFIG=os.path.join(self.tmp.name, "cfg.json"))
        env.pop("BERTH_CACERT", None)
        return subprocess.run([BERTH] + args, env=env, input=stdin, capture_output=True,
                              timeout=60)

    def test_wss_with_cacert(self):
        r = self.berth(["terminal", "host-1", "--cacert", self.cert],
                       stdin=b"echo tls-$((1+1)); exit 5\n")
        self.assertEqual(r.returncode, 5, r)
        self.assertIn(b"tls-2", r.stdout)
        r = self.berth(["terminal", "host-1"], stdin=b"exit 0\n")  # not trusted
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b"TLS", r.stderr)
        r = self.berth(["exec", "host-1", "--cacert", self.cert, "--", "echo", "tls-exec"])
        self.assertEqual((r.returncode, r.stdout), (0, b"tls-exec\n"), r)


if __name__ == "__main__":
    unittest.main()
