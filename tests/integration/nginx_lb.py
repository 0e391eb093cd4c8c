"""Debian's nginx in front of registry nodes, with the shipped deploy/nginx/registry-nodes.conf:
its upstream, listen and certificate lines are rewritten for the test (the nodes' addresses, a
free loopback port, a self-signed certificate made here), everything else is used as shipped.
nginx runs in the foreground with its own prefix, configuration and logs in a temporary folder:
no system service is touched."""
import os
import re
import signal
import socket
import subprocess
import tempfile

from registry import TOP, free_port, wait_for

NGINX = "/usr/sbin/nginx"
SITE = os.path.join(TOP, "deploy", "nginx", "registry-nodes.conf")


def _sub_once(pattern, repl, text, flags=re.M):
    """re.sub that must match exactly once: the shipped file changing shape fails loudly."""
    out, n = re.subn(pattern, repl, text, flags=flags)
    assert n == 1, f"{SITE}: {pattern!r} matched {n} times"
    return out


class NodesProxy:
    """nginx on https://127.0.0.1:<port> balancing over nodes (Registry instances)."""

    def __init__(self, base, port=None):
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=base)
        os.chmod(self.dir, 0o755)
        self.port = port or free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        self.access_log = os.path.join(self.dir, "access.log")
        self.error_log = os.path.join(self.dir, "error.log")
        self.proc = None
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key, "-out",
                        self.cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)

    def site_config(self, nodes):
        """The shipped site file with this test's nodes, port and certificate."""
        with open(SITE) as f:
            text = f.read()
        servers = re.findall(r"^(\s*)server \d+\.\d+\.\d+\.\d+:\d+( [^;]*)?;\n", text, re.M)
        assert len(servers) >= 2, f"{SITE}: no example node lines"
        indent, params = servers[0]
        ours = "".join(f"{indent}server {n.host}{params};\n" for n in nodes)
        text = re.sub(r"^\s*server \d+\.\d+\.\d+\.\d+:\d+( [^;]*)?;\n", "", text, flags=re.M)
        text = _sub_once(r"^(\s*)keepalive \d+;", lambda m: ours + m.group(0), text)
        text = _sub_once(r"^\s*listen 443 ssl http2;", f"    listen {self.host} ssl http2;", text)
        text = _sub_once(r"^\s*listen \[::\]:443 ssl http2;\n", "", text)
        text = _sub_once(r"^\s*listen 80;", f"    listen 127.0.0.1:{free_port()};", text)
        text = _sub_once(r"^\s*listen \[::\]:80;\n", "", text)
        text = _sub_once(r"^(\s*)ssl_certificate\s+\S+;", rf"\1ssl_certificate {self.cert};", text)
        text = _sub_once(r"^(\s*)ssl_certificate_key\s+\S+;", rf"\1ssl_certificate_key {self.key};",
                         text)
        return text

    def start(self, nodes):
        site = os.path.join(self.dir, "site.conf")
        with open(site, "w") as f:
            f.write(self.site_config(nodes))
        temp = "".join(f"    {k}_temp_path {self.dir}/{k};\n"
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        main = os.path.join(self.dir, "nginx.conf")
        with open(main, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 1024; }}
http {{
    log_format nodes '$remote_addr "$request" $status upstream=$upstream_addr';
    access_log {self.access_log} nodes;
{temp}    include {site};
}}
""")
        subprocess.run([NGINX, "-t", "-p", self.dir, "-c", main, "-e", self.error_log],
                       check=True, capture_output=True)
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", main, "-e", self.error_log],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)

        def listening():
            assert self.proc.poll() is None, self.log()
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        wait_for(listening, what="nginx listening")
        return self

    def upstreams(self):
        """The node addresses nginx sent each logged request to: [(request line, upstream)]."""
        with open(self.access_log) as f:
            return re.findall(r'"([^"]*)" \d+ upstream=(.+)$', f.read(), re.M)

    def log(self):
        with open(self.error_log, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
