/*
 * The master/worker supervisor. The master runs a poll loop on a signalfd (signals are handled
 * there, never in signal context) and keeps its workers alive; workers run libevent loops.
 */
#include "proc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"
#include "heap.h"
#include "log.h"
#include "metrics.h"
#include "privsep.h"
#include "util.h"

#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 30000
#define STABLE_US (10 * 1000000ULL) /* a worker that lived this long resets its back-off */
#define EXIT_NOW_GRACE_MS 2000

struct child {
	pid_t pid;
	int slot;
	unsigned generation;
	bool draining;
	uint64_t started_us;
	uint64_t kill_at_us; /* a draining worker of an older generation is killed then (0: none) */
};

struct slot {
	uint64_t respawn_at_us; /* 0: none pending */
	unsigned backoff_ms;
};

static const struct proc_role *role;
static struct cfg *cfg;
static int listen_fd = -1;
static char *unix_path;
static char *pid_path;
static int pid_fd = -1;
static int sig_fd = -1;
static pid_t master_pid;
static sigset_t sig_old_mask;

static struct child *children;
static size_t nchildren, children_cap;
static struct slot *slots;
static int nslots;
static unsigned generation;
static bool shutting_down;
static uint64_t kill_deadline_us;

/* worker state */
static struct event_base *worker_base;
static struct http_server *worker_server;

static void master_loop(void) __attribute__((noreturn));
static void worker_main(int index) __attribute__((noreturn));

/* The command line help, for -h and a bad option. */
static void
usage(const char *prog)
{
	fprintf(stderr,
	        "usage: %s [-c config] [-n] [-p pidfile]\n"
	        "  -c FILE   configuration file (default: $REGISTRY_CONFIG, else built-in defaults)\n"
	        "  -n        check the configuration, print the effective values and exit\n"
	        "  -p FILE   write the master's pid to FILE\n",
	        prog);
}

char *
proc_socket_path(const struct cfg *c, const char *name)
{
	return xasprintf("%s/%s.sock", cfg_str(c, CFG_GLOBAL_SOCKET_DIR), name);
}

/* Checks a configuration before it is used, at start, for -n and on reload; -1 with *cause. */
static int
check_config(const struct cfg *c, char **cause)
{
	if (role->check != NULL && role->check(c, cause) < 0)
		return -1;
	if (privsep_check(c, cause) < 0)
		return -1;
	if (!role->tcp) {
		char *p = proc_socket_path(c, role->name);
		size_t len = strlen(p);
		free(p);
		if (len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			*cause = xasprintf("socket path under [global] socket_dir is too long");
			return -1;
		}
	}
	return 0;
}

/* Applies the log level, format and file of a (re)loaded configuration. */
static void
apply_logging(const struct cfg *c)
{
	log_set_level((enum log_level)log_parse_level(cfg_str(c, CFG_GLOBAL_LOG_LEVEL)));
	log_set_format((enum log_format)log_parse_format(cfg_str(c, CFG_GLOBAL_LOG_FORMAT)));
	if (log_open(cfg_str(c, CFG_GLOBAL_LOG_FILE)) < 0)
		log_error("cannot open log file %s: %s", cfg_str(c, CFG_GLOBAL_LOG_FILE),
		          strerror(errno));
}

/* ---- listening socket ------------------------------------------------------------------------ */

/* Every connection is a descriptor: the soft limit (often 1024) goes up to the hard one, so that
 * thousands of clients and the backend connections they need fit in a worker. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The listen backlog: the kernel's somaxconn (it caps any larger value), so that a burst of
 * connections queues instead of being refused. */
static int
listen_backlog(void)
{
	int n = SOMAXCONN;
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
	if (f != NULL) {
		int v;
		if (fscanf(f, "%d", &v) == 1 && v > n)
			n = v;
		fclose(f);
	}
	return n;
}

/* Listens on the gateway's HOST:PORT ([v6]:PORT too), before the master drops root. */
static int
bind_tcp(const char *spec, char **cause)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec || colon[1] == '\0') {
		*cause = xasprintf("listen address \"%s\" is not HOST:PORT", spec);
		return -1;
	}
	size_t hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		*cause = xasprintf("listen host too long");
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		                  .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
	if (rc != 0) {
		*cause = xasprintf("listen address %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, listen_backlog()) == 0)
			break;
		*cause = xasprintf("cannot listen on %s: %s", spec, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		free(*cause);
		*cause = NULL;
	}
	return fd;
}

/* Listens on a backend's unix socket, replacing a stale one but never a live daemon's. */
static int
bind_unix(const char *path, char **cause)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			*cause = xasprintf("cannot create socket folder %s: %s", dir,
			                   strerror(errno));
			free(dir);
			return -1;
		}
	}
	free(dir);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*cause = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	/* A live socket means another instance serves it: refuse rather than steal it. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		*cause = xasprintf("%s is in use by a running daemon", path);
		return -1;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, listen_backlog()) < 0) {
		*cause = xasprintf("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	chmod(path, 0660);
	return fd;
}

/* ---- master ---------------------------------------------------------------------------------- */

/* Removes the socket and pid file the master made, as it exits. */
static void
master_cleanup(void)
{
	if (unix_path != NULL)
		unlink(unix_path);
	if (pid_path != NULL)
		unlink(pid_path);
}

/* Forks the worker of a slot; a failed fork is retried a second later. */
static void
spawn(int slot)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		slots[slot].respawn_at_us = now_monotonic_us() + 1000000;
		return;
	}
	if (pid == 0)
		worker_main(slot);
	if (nchildren == children_cap) {
		children_cap = children_cap ? children_cap * 2 : 16;
		children = xrealloc(children, children_cap * sizeof(*children));
	}
	children[nchildren++] = (struct child){
		.pid = pid, .slot = slot, .generation = generation, .started_us = now_monotonic_us()
	};
	slots[slot].respawn_at_us = 0;
	log_debug("worker %d started (pid %d)", slot, (int)pid);
}

/* Starts n new workers, a new generation, at start and on reload. */
static void
start_generation(int n)
{
	generation++;
	slots = xrealloc(slots, (size_t)n * sizeof(*slots));
	memset(slots, 0, (size_t)n * sizeof(*slots));
	nslots = n;
	for (int i = 0; i < n; i++)
		spawn(i);
	metrics_set_workers((unsigned)n);
}

/* Passes a signal to every worker, or only to older generations' (reload); TERM marks draining. */
static void
signal_children(int sig, bool only_old)
{
	for (size_t i = 0; i < nchildren; i++) {
		if (only_old && children[i].generation == generation)
			continue;
		if (sig == SIGTERM)
			children[i].draining = true;
		kill(children[i].pid, sig);
	}
}

/* How a worker ended, in words, for the log. */
static void
describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "stopped (status 0x%x)", status);
}

/* Collects dead workers; an unexpected death schedules a respawn with growing back-off. */
static void
reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		size_t i;
		for (i = 0; i < nchildren; i++)
			if (children[i].pid == pid)
				break;
		if (i == nchildren)
			continue;
		struct child ch = children[i];
		children[i] = children[--nchildren];
		char what[96];
		describe_status(status, what, sizeof(what));
		bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (ch.draining || shutting_down) {
			if (clean)
				log_debug("worker %d (pid %d) %s", ch.slot, (int)pid, what);
			else
				log_warn("draining worker %d (pid %d) %s", ch.slot, (int)pid, what);
			continue;
		}
		if (ch.generation != generation || ch.slot >= nslots)
			continue;
		struct slot *s = &slots[ch.slot];
		if (now_monotonic_us() - ch.started_us > STABLE_US)
			s->backoff_ms = 0;
		s->backoff_ms = s->backoff_ms == 0
		                        ? RESPAWN_MIN_MS
		                        : (s->backoff_ms * 2 > RESPAWN_MAX_MS ? RESPAWN_MAX_MS
		                                                              : s->backoff_ms * 2);
		s->respawn_at_us = now_monotonic_us() + (uint64_t)s->backoff_ms * 1000;
		metrics_worker_restart();
		log_error("worker %d (pid %d) %s; respawning in %.1fs", ch.slot, (int)pid, what,
		          s->backoff_ms / 1000.0);
	}
}

/* HUP: loads the configuration again; if valid, new workers start and the old ones drain. */
static void
reload(void)
{
	char *cause = NULL;
	struct cfg *next =
	        cfg_load(strcmp(cfg_path(cfg), "(defaults)") == 0 ? NULL : cfg_path(cfg), &cause);
	if (next != NULL && (cfg_check_reload(cfg, next, role->name, &cause) < 0 ||
	                     check_config(next, &cause) < 0)) {
		cfg_free(next);
		next = NULL;
	}
	if (next == NULL) {
		log_error("reload refused, keeping the running configuration: %s", cause);
		free(cause);
		return;
	}
	cfg_free(cfg);
	cfg = next;
	apply_logging(cfg);
	int n = cfg_workers(cfg, role->name);
	log_info("configuration reloaded; starting %d new workers, draining the old ones", n);
	start_generation(n);
	signal_children(SIGTERM, true);
	/* The old workers get shutdown_timeout to finish, as on TERM; a request that outlives it
	 * (a stuck client) must not keep an old generation alive for ever. */
	uint64_t deadline =
	        now_monotonic_us() + (uint64_t)cfg_int(cfg, CFG_GLOBAL_SHUTDOWN_TIMEOUT) * 1000000;
	for (size_t i = 0; i < nchildren; i++)
		if (children[i].generation != generation && children[i].kill_at_us == 0)
			children[i].kill_at_us = deadline;
}

/* TERM drains workers until shutdown_timeout; INT and QUIT stop them at once. */
static void
begin_shutdown(int sig)
{
	if (sig == SIGTERM) {
		if (shutting_down)
			return;
		log_info("draining %zu workers (deadline %llds)", nchildren,
		         (long long)cfg_int(cfg, CFG_GLOBAL_SHUTDOWN_TIMEOUT));
		shutting_down = true;
		signal_children(SIGTERM, false);
		kill_deadline_us = now_monotonic_us() +
		                   (uint64_t)cfg_int(cfg, CFG_GLOBAL_SHUTDOWN_TIMEOUT) * 1000000;
	} else {
		log_info("exiting now (%s)", strsignal(sig));
		shutting_down = true;
		signal_children(SIGINT, false);
		kill_deadline_us = now_monotonic_us() + EXIT_NOW_GRACE_MS * 1000ULL;
	}
}

/* What each signal means to the master, run from its loop, never in signal context. */
static void
handle_signal(int sig)
{
	switch (sig) {
	case SIGCHLD:
		reap();
		break;
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		begin_shutdown(sig);
		break;
	case SIGHUP:
		if (!shutting_down)
			reload();
		break;
	case SIGUSR1:
		if (log_reopen() < 0)
			log_error("cannot reopen log file: %s", strerror(errno));
		signal_children(SIGUSR1, false);
		break;
	default:
		break;
	}
}

/* How long the master may sleep until its next respawn or kill deadline; -1 for none. */
static int
next_timeout_ms(void)
{
	uint64_t now = now_monotonic_us();
	uint64_t next = UINT64_MAX;
	for (int i = 0; i < nslots && !shutting_down; i++)
		if (slots[i].respawn_at_us && slots[i].respawn_at_us < next)
			next = slots[i].respawn_at_us;
	if (kill_deadline_us && kill_deadline_us < next)
		next = kill_deadline_us;
	for (size_t i = 0; i < nchildren; i++)
		if (children[i].kill_at_us && children[i].kill_at_us < next)
			next = children[i].kill_at_us;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now) / 1000 + 1);
}

/* Respawns workers whose back-off is over, and kills those past their deadline. */
static void
run_timers(void)
{
	uint64_t now = now_monotonic_us();
	for (int i = 0; i < nslots && !shutting_down; i++)
		if (slots[i].respawn_at_us && slots[i].respawn_at_us <= now)
			spawn(i);
	for (size_t i = 0; i < nchildren; i++) {
		if (children[i].kill_at_us && children[i].kill_at_us <= now) {
			log_warn(
			        "old worker %d (pid %d) still busy at the reload deadline: killing it",
			        children[i].slot, (int)children[i].pid);
			kill(children[i].pid, SIGKILL);
			children[i].kill_at_us = 0;
		}
	}
	if (kill_deadline_us && kill_deadline_us <= now) {
		if (nchildren > 0)
			log_warn("%zu workers still running at the deadline: killing them",
			         nchildren);
		for (size_t i = 0; i < nchildren; i++)
			kill(children[i].pid, SIGKILL);
		kill_deadline_us = 0;
	}
}

/* The master's life: waits on signals and timers, until shutdown ends with no worker left. */
static void
master_loop(void)
{
	for (;;) {
		if (shutting_down && nchildren == 0) {
			log_info("all workers gone; exiting");
			master_cleanup();
			exit(0);
		}
		struct pollfd pfd = { .fd = sig_fd, .events = POLLIN };
		int rc = poll(&pfd, 1, next_timeout_ms());
		if (rc < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		if (rc > 0) {
			struct signalfd_siginfo si[8];
			ssize_t n = read(sig_fd, si, sizeof(si));
			for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(si[0]); i++)
				handle_signal((int)si[i].ssi_signo);
		}
		reap();
		run_timers();
	}
}

/* Opens the pid file while the master may still be root (its folder may be root's). */
static void
open_pidfile(void)
{
	if (pid_path == NULL)
		return;
	pid_fd = open(pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (pid_fd < 0)
		fatal("cannot write pid file %s: %s", pid_path, strerror(errno));
}

/* Writes the master's pid once it serves: what scripts wait for. */
static void
write_pidfile(void)
{
	if (pid_fd < 0)
		return;
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write_all(pid_fd, buf, (size_t)len) < 0)
		fatal("cannot write pid file %s: %s", pid_path, strerror(errno));
	close(pid_fd);
	pid_fd = -1;
}

/* A failure before the master serves: no pid file left behind, then exit. */
static void __attribute__((noreturn)) master_fail(const char *cause)
{
	if (pid_fd >= 0)
		unlink(pid_path);
	fatal("%s", cause);
}

/* ---- worker ---------------------------------------------------------------------------------- */

/* The draining worker's last connection is gone: its loop ends, and so does the worker. */
static void
worker_drained(void *arg)
{
	event_base_loopexit(worker_base, NULL);
	(void)arg;
}

/* What each signal means to a worker: TERM drains, INT and QUIT exit now, USR1 reopens logs. */
static void
worker_signal(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGTERM:
		log_debug("draining");
		if (role->worker_drain != NULL)
			role->worker_drain();
		http_server_drain(worker_server, worker_drained, NULL);
		break;
	case SIGINT:
	case SIGQUIT:
		_exit(0);
	case SIGUSR1:
		log_reopen();
		break;
	default:
		break;
	}
	(void)what;
	(void)arg;
}

/* Logs and counts each finished request of a worker (access log, metrics); notes it for the
 * idle trim of the heap. */
static void
worker_complete(struct http_txn *txn, void *arg)
{
	struct http_request *req = http_txn_request(txn);
	struct log_access a = {
		.request_id = http_txn_id(txn),
		.peer = http_txn_peer(txn),
		.method = req->method,
		.target = req->target,
		.status = http_txn_status(txn),
		.bytes_in = http_txn_bytes_in(txn),
		.bytes_out = http_txn_bytes_out(txn),
		.duration_us = http_txn_duration_us(txn),
		.actor = http_txn_actor(txn),
	};
	log_access(&a);
	metrics_observe(http_txn_route(txn), http_txn_status(txn), http_txn_duration_us(txn),
	                http_txn_bytes_in(txn), http_txn_bytes_out(txn));
	heap_request_done(http_txn_bytes_in(txn));
	(void)arg;
}

/* A worker's life: serves the inherited socket with the role's handler until drained. */
static void
worker_main(int index)
{
	close(sig_fd);
	sigprocmask(SIG_SETMASK, &sig_old_mask, NULL);
	/* Workers must not outlive their master: they drain when it dies. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	log_set_worker(index);
	worker_base = event_base_new();
	if (worker_base == NULL)
		fatal("event_base_new failed");
	heap_idle_init(worker_base);
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP };
	for (size_t i = 0; i < nitems(sigs); i++) {
		struct event *ev = evsignal_new(worker_base, sigs[i], worker_signal, NULL);
		evsignal_add(ev, NULL);
	}
	struct http_limits limits;
	http_limits_default(&limits);
	if (!role->tcp) {
		/* Backends serve the gateway, which bounds what clients send and may stream slowly.
		 */
		limits.max_header_size = 1024 * 1024;
		limits.max_headers = 1000;
		limits.max_target = 64 * 1024;
		limits.idle_timeout = 600;
		limits.body_timeout = 600;
	}
	if (role->limits != NULL)
		role->limits(cfg, &limits);
	worker_server = http_server_new(worker_base, listen_fd, &limits, role->handler, NULL);
	http_server_set_error_body(worker_server, role->error_body);
	http_server_trust_request_id(worker_server, !role->tcp);
	if (!role->tcp)
		http_server_peer_filter(worker_server, privsep_peer_allowed);
	http_server_on_complete(worker_server, worker_complete, NULL);
	struct proc_worker w = {
		.base = worker_base, .cfg = cfg, .index = index, .server = worker_server
	};
	char *cause = NULL;
	if (role->worker_init != NULL && role->worker_init(&w, &cause) < 0) {
		log_error("worker init failed: %s", cause ? cause : "unknown error");
		exit(1);
	}
	if (getppid() != master_pid)
		exit(0); /* the master died before we set PDEATHSIG (we were reparented, not always
		          * to pid 1: containers and service managers have subreapers) */
	event_base_dispatch(worker_base);
	exit(0);
}

/* ---- entry ----------------------------------------------------------------------------------- */

/*
 * Runs the role's one-time setup (migrations, keys, bootstrap) in a child that exits when done.
 * The master then never touches libpq and its libraries: it stays a few MiB, as the workers it
 * forks would otherwise inherit and keep whatever the setup left behind.
 */
static int
run_master_init(char **cause)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		*cause = xasprintf("fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		char *why = NULL;
		if (role->master_init(cfg, &why) < 0) {
			const char *msg = why ? why : "setup failed";
			(void)write_all(fds[1], msg, strlen(msg));
			_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	char buf[2048];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(buf) - 1 && (n = read(fds[0], buf + got, sizeof(buf) - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (got > 0) {
		*cause = xstrdup(buf);
	} else {
		char what[96];
		describe_status(status, what, sizeof(what));
		*cause = xasprintf("setup process %s", what);
	}
	return -1;
}

int
proc_main(const struct proc_role *r, int argc, char **argv)
{
	role = r;
	heap_tune();
	log_init(role->name);
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium failed to initialise\n", role->name);
		exit(1);
	}
	const char *config_path = getenv("REGISTRY_CONFIG");
	bool check_only = false;
	int opt;
	while ((opt = getopt(argc, argv, "c:np:h")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'p':
			pid_path = xstrdup(optarg);
			break;
		default:
			usage(argv[0]);
			exit(opt == 'h' ? 0 : 2);
		}
	}
	if (config_path != NULL && *config_path == '\0')
		config_path = NULL;
	char *cause = NULL;
	cfg = cfg_load(config_path, &cause);
	if (cfg == NULL || check_config(cfg, &cause) < 0) {
		fprintf(stderr, "%s: %s\n", role->name, cause);
		exit(1);
	}
	if (check_only) {
		cfg_print(cfg, role->name, stdout);
		printf("configuration OK\n");
		exit(0);
	}
	apply_logging(cfg);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	/* A privileged port is bound as root; then the master becomes its user before anything
	 * else, so its setup, files and Unix socket are that user's. */
	if (role->tcp && (listen_fd = bind_tcp(cfg_str(cfg, CFG_GATEWAY_LISTEN), &cause)) < 0)
		fatal("%s", cause);
	open_pidfile();
	if (privsep_start(cfg, role->name, &cause) < 0)
		master_fail(cause);
	if (role->master_init != NULL && run_master_init(&cause) < 0)
		master_fail(cause);
	if (!role->tcp) {
		unix_path = proc_socket_path(cfg, role->name);
		listen_fd = bind_unix(unix_path, &cause);
		if (listen_fd < 0)
			master_fail(cause);
	}
	/* Every worker polls the same socket; only one wins each connection, the others must not
	 * block in accept(). */
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	metrics_init(role->name, role->routes, role->nroutes);

	sigset_t mask;
	sigemptyset(&mask);
	int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1 };
	for (size_t i = 0; i < nitems(sigs); i++)
		sigaddset(&mask, sigs[i]);
	sigprocmask(SIG_BLOCK, &mask, &sig_old_mask);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sig_fd < 0)
		fatal("signalfd: %s", strerror(errno));
	write_pidfile();
	master_pid = getpid();
	int n = cfg_workers(cfg, role->name);
	log_info("starting %d workers on %s", n,
	         role->tcp ? cfg_str(cfg, CFG_GATEWAY_LISTEN) : unix_path);
	start_generation(n);
	master_loop();
}
