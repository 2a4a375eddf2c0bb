/*
 * connect_latency: how long connect() takes, one connection at a time (bench/Bench, suite e2e).
 *
 *   connect_latency ADDRESS PORT (-n COUNT | -d SECONDS) [-w WARMUP] [-u | -N] [-k HOLD]
 *
 * Modes: by default a blocking TCP connect() (the e2e suite). -u: a UDP socket's connect(), which sends
 * nothing (the cgroup connect4 hook and the route lookup only: the sock-hook suite's clean measure of the
 * hook). -N: a non-blocking TCP connect(), timed until it returns EINPROGRESS (the hook, the route lookup
 * and the SYN's transmission; the handshake is not waited for). -k HOLD: before the timed rounds, open HOLD
 * sockets of the same kind connected to the target and keep them open until the end (the sockets that come
 * and go around a connect(): with the hooks, each holds its translation).
 *
 * Each round: socket(), then a blocking connect() timed with CLOCK_MONOTONIC just before and just
 * after it, then close with SO_LINGER 0 (an RST). The timed span is the whole connect() system call:
 * the cgroup connect4 hooks (where connect-time balancing rewrites the destination), the route
 * lookup, the SYN's way out through every TC program and netfilter hook on the path, the server's
 * kernel answering SYN-ACK, and the client handling it. socket() and close() are outside the span.
 *
 * Why an RST rather than a FIN: a FIN close leaves the client port in TIME_WAIT, and at tens of
 * thousands of connections the kernel's search for a free port (and the reuse of TIME_WAIT ports)
 * would grow into the timed connect(); after an RST every round starts from the same state.
 *
 * The first WARMUP rounds (default 100) are not recorded (caches, ARP/neighbour entries). Any failed
 * connect() stops the run with exit status 1 and the error: a refused or timed-out connection is a
 * broken path, not a slow sample. On success it prints one line:
 *
 *   connects=N p50_us=X p90_us=X p99_us=X mean_us=X min_us=X max_us=X seconds=X
 *
 * (nearest-rank percentiles over the N recorded rounds; seconds is the wall time of those rounds).
 * Written for this benchmark only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least per_mille/1000 of all samples at or below it. */
static double percentile_us(const uint64_t *sorted, size_t count, unsigned per_mille)
{
	size_t rank = (per_mille * count + 999) / 1000; /* ceil(p * count) */

	if (rank < 1)
		rank = 1;
	return (double)sorted[rank - 1] / 1000.0;
}

enum mode { MODE_TCP_BLOCKING, MODE_UDP, MODE_TCP_NONBLOCKING };

static enum mode mode = MODE_TCP_BLOCKING;

/* A socket of the mode's kind connected to the target (left open), or -1 with errno set. */
static int open_connected(const struct sockaddr_in *target, uint64_t *took, const char **failed)
{
	uint64_t start;
	int fd, rc;

	fd = socket(AF_INET, mode == MODE_UDP ? SOCK_DGRAM : SOCK_STREAM | (mode == MODE_TCP_NONBLOCKING ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) {
		*failed = "socket";
		return -1;
	}
	start = now_ns();
	rc = connect(fd, (const struct sockaddr *)target, sizeof(*target));
	*took = now_ns() - start;
	if (rc < 0 && !(mode == MODE_TCP_NONBLOCKING && errno == EINPROGRESS)) {
		int error = errno;

		*failed = "connect";
		close(fd);
		errno = error;
		return -1;
	}
	return fd;
}

/* One round; returns the connect() duration in ns, or 0 with errno set when a call failed. */
static uint64_t one_connect(const struct sockaddr_in *target, const char **failed)
{
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	uint64_t took;
	int fd;

	fd = open_connected(target, &took, failed);
	if (fd < 0)
		return 0;
	if (mode == MODE_UDP) {
		close(fd);
		return took > 0 ? took : 1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close)) < 0) {
		int error = errno;

		*failed = "setsockopt(SO_LINGER)";
		close(fd);
		errno = error;
		return 0;
	}
	close(fd);
	return took > 0 ? took : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: connect_latency IPV4-ADDRESS PORT (-n COUNT | -d SECONDS) [-w WARMUP] [-u | -N] [-k HOLD]\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_in target = { .sin_family = AF_INET };
	long count = 0, warmup = 100, hold = 0;
	double seconds = 0;
	uint64_t *samples = NULL;
	size_t used = 0, capacity = 0;
	uint64_t started, elapsed, deadline = 0, total = 0;
	const char *failed = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "n:d:w:uNk:")) != -1) {
		switch (opt) {
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'd':
			seconds = strtod(optarg, NULL);
			break;
		case 'w':
			warmup = strtol(optarg, NULL, 10);
			break;
		case 'u':
			mode = MODE_UDP;
			break;
		case 'N':
			mode = MODE_TCP_NONBLOCKING;
			break;
		case 'k':
			hold = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 2 || inet_pton(AF_INET, argv[optind], &target.sin_addr) != 1 ||
	    (count > 0) == (seconds > 0) || count < 0 || seconds < 0 || warmup < 0 || hold < 0) {
		usage();
		return 2;
	}
	target.sin_port = htons((unsigned short)atoi(argv[optind + 1]));

	if (hold > 0) {
		struct rlimit files = { .rlim_cur = (rlim_t)hold + 1024, .rlim_max = (rlim_t)hold + 1024 };
		uint64_t ignored;

		if (setrlimit(RLIMIT_NOFILE, &files) < 0) {
			fprintf(stderr, "connect_latency: cannot allow %ld open files: %s\n", hold + 1024, strerror(errno));
			return 1;
		}
		for (long i = 0; i < hold; i++) {
			if (open_connected(&target, &ignored, &failed) < 0) { /* left open until exit */
				fprintf(stderr, "connect_latency: held socket %ld: %s to %s:%s: %s\n", i + 1, failed,
					argv[optind], argv[optind + 1], strerror(errno));
				return 1;
			}
		}
	}

	for (long i = 0; i < warmup; i++) {
		if (one_connect(&target, &failed) == 0) {
			fprintf(stderr, "connect_latency: warm-up round %ld: %s to %s:%s: %s\n", i + 1, failed,
				argv[optind], argv[optind + 1], strerror(errno));
			return 1;
		}
	}

	started = now_ns();
	if (seconds > 0)
		deadline = started + (uint64_t)(seconds * 1e9);
	while (count > 0 ? used < (size_t)count : now_ns() < deadline) {
		uint64_t took;

		if (used == capacity) {
			uint64_t *grown;

			capacity = capacity ? capacity * 2 : 65536;
			grown = realloc(samples, capacity * sizeof(*samples));
			if (!grown) {
				fprintf(stderr, "connect_latency: out of memory after %zu rounds\n", used);
				return 1;
			}
			samples = grown;
		}
		took = one_connect(&target, &failed);
		if (took == 0) {
			fprintf(stderr, "connect_latency: round %zu: %s to %s:%s: %s\n", used + 1, failed,
				argv[optind], argv[optind + 1], strerror(errno));
			return 1;
		}
		samples[used++] = took;
		total += took;
	}
	if (used == 0) {
		fprintf(stderr, "connect_latency: no round completed\n");
		return 1;
	}

	elapsed = now_ns() - started;
	qsort(samples, used, sizeof(*samples), compare_u64);
	printf("connects=%zu p50_us=%.2f p90_us=%.2f p99_us=%.2f mean_us=%.2f min_us=%.2f max_us=%.2f seconds=%.3f\n",
	       used, percentile_us(samples, used, 500), percentile_us(samples, used, 900),
	       percentile_us(samples, used, 990), (double)total / (double)used / 1000.0,
	       (double)samples[0] / 1000.0, (double)samples[used - 1] / 1000.0,
	       (double)elapsed / 1e9);
	free(samples);
	return 0;
}
