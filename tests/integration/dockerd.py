"""The Docker engine for the tests: the one the environment already reaches (DOCKER_HOST or the
default socket), else a private dockerd (Debian's docker.io) started as root under a temporary
folder: its own data root, exec root, pid file, socket and configuration file, without iptables
or a bridge, on the vfs storage driver. It stops with `stop()` and leaves nothing behind.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

FLAGS = ["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"]
START_TIMEOUT = 120  # seconds; about 2 on an idle machine
# dockerd and the containerd it starts look for their helpers (containerd, runc) on PATH.
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class EngineUnavailable(Exception):
    """No engine, for a reason outside the project (the tests are not run as root)."""


class DockerEngine:
    def __init__(self):
        """An engine not started yet: the client's environment, no process, no folder."""
        self.env = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CLI_HINTS="false")
        self.env["PATH"] = self.env.get("PATH", "") + ":" + SBIN_PATH
        self.proc = None
        self.dir = None
        self.own = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self):
        """Uses the engine the environment reaches, or starts a private one; raises
        AssertionError (with dockerd's log) when the engine cannot be had, EngineUnavailable
        when only root could start it."""
        if not shutil.which("docker", path=self.env["PATH"]):
            raise AssertionError("no docker client: deploy/install-deps --test installs docker.io")
        if self._answers():
            return self
        if os.geteuid() != 0:
            raise EngineUnavailable("no Docker engine is reachable (DOCKER_HOST or "
                                    "/var/run/docker.sock) and only root can start one")
        dockerd = shutil.which("dockerd", path=self.env["PATH"])
        if not dockerd:
            raise AssertionError("dockerd is not installed: deploy/install-deps --test installs "
                                 "docker.io (the Docker engine)")
        self.dir = tempfile.mkdtemp(prefix="regtest-dockerd-")
        self.own = True
        conf = os.path.join(self.dir, "daemon.json")
        with open(conf, "w") as f:
            f.write("{}\n")  # not /etc/docker/daemon.json: nothing of the machine's setup
        sock = os.path.join(self.dir, "docker.sock")
        cmd = [dockerd, *FLAGS, "--config-file", conf,
               "--data-root", os.path.join(self.dir, "data"),
               "--exec-root", os.path.join(self.dir, "exec"),
               "--pidfile", os.path.join(self.dir, "dockerd.pid"), "-H", f"unix://{sock}"]
        self.env["DOCKER_HOST"] = f"unix://{sock}"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            why = None
            if self.proc.poll() is not None:
                why = f"dockerd exited with status {self.proc.returncode} at start"
            elif time.monotonic() > deadline:
                why = f"dockerd did not answer `docker info` in {START_TIMEOUT}s"
            if why:
                log = self.log()[-3000:]
                self.stop()
                raise AssertionError(f"{why}:\n{' '.join(cmd)}\n{log}")
            time.sleep(0.2)
        return self

    def stop(self):
        """Stops the private engine (TERM, then KILL after 30 s), unmounts what it left mounted
        under its folder and removes the folder."""
        if not self.own:
            return
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._kill_leftovers()
        self._unmount_all()
        if not os.environ.get("KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.own = False

    @property
    def log_path(self):
        """Where the private dockerd writes its output."""
        return os.path.join(self.dir, "dockerd.log")

    def log(self):
        """dockerd's output so far (or why there is none)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError as e:
            return f"(no log: {e})"

    def _answers(self):
        """Whether the engine of self.env answers `docker info`."""
        try:
            res = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                                 capture_output=True, text=True, timeout=20, env=self.env)
        except subprocess.TimeoutExpired:
            return False
        return res.returncode == 0 and res.stdout.strip() != ""

    def _kill_leftovers(self):
        """containerd and its shims die with dockerd; any that did not (dockerd was killed) is
        found by our folder on its command line."""
        mine = self.dir.encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if mine in f.read():
                        os.kill(int(pid), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass

    def _unmount_all(self):
        """dockerd mounts its data root on itself and a network namespace under its exec root;
        unmount whatever is still mounted below our folder, deepest first."""
        points = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].encode().decode("unicode_escape")
                if point == self.dir or point.startswith(self.dir + "/"):
                    points.append(point)
        for point in sorted(points, key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)

    # -- the client ------------------------------------------------------------------------------

    def docker(self, config, *args, input=None, check=True, timeout=300):
        """Runs `docker ARGS` against this engine with DOCKER_CONFIG=config; check=True raises
        with the command's output when it fails."""
        cmd = ["docker", *args]
        res = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout,
                             env=dict(self.env, DOCKER_CONFIG=config))
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n"
                                 f"{res.stderr}")
        return res
