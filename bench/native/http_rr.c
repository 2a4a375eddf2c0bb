/*
 * http_rr: HTTP request/response latency, one request at a time (bench/Bench, suite multinode-e2e).
 *
 *   http_rr ADDRESS PORT (-n COUNT | -d SECONDS) [-w WARMUP] [-k] [-p PATH]
 *
 * Without -k every round is a new TCP connection (a short connection): socket(), connect(), send
 * "GET PATH" with "Connection: close", read the whole answer; the timed span runs from just before
 * connect() to the answer's last byte, so it holds the handshake, the request and the response (a new
 * flow through every translation on the way). The server closes after its answer; the client then
 * reads the end of the stream (untimed) and closes, so it never holds a port in TIME_WAIT.
 * With -k one connection is opened (untimed) and every round sends a request on it and reads the
 * answer: the timed span is the round trip of one request (a kept-alive connection).
 *
 * An answer is read in full: the status line must be 200 and the body exactly Content-Length bytes
 * (bench_httpd's fixed body, or the size it was started with). Any failure (refused, reset, timeout
 * after 5 s without a byte, another status, a short body) stops the run with exit status 1 and the
 * error: a broken path is not a slow sample. The first WARMUP rounds (default 100) are not recorded.
 * On success it prints one line:
 *
 *   requests=N p50_us=X p90_us=X p99_us=X mean_us=X min_us=X max_us=X seconds=X body_bytes=B
 *
 * (nearest-rank percentiles over the N recorded rounds; seconds is the wall time of those rounds, so
 * N / seconds is the rate of one client doing one request at a time). Written for this benchmark only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEADER_MAX 4096
#define CHUNK 65536

static char request[512];
static size_t request_len;
static char chunk[CHUNK];
static long body_bytes = -1;

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
	size_t rank = (per_mille * count + 999) / 1000;

	if (rank < 1)
		rank = 1;
	return (double)sorted[rank - 1] / 1000.0;
}

static int open_socket(const char **failed)
{
	struct timeval timeout = { .tv_sec = 5 };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0) {
		*failed = "socket";
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		int error = errno;

		*failed = "setsockopt";
		close(fd);
		errno = error;
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t sent = send(fd, data, len, MSG_NOSIGNAL);

		if (sent < 0 && errno == EINTR)
			continue;
		if (sent <= 0)
			return -1;
		data += sent;
		len -= (size_t)sent;
	}
	return 0;
}

/* Sends the request and reads one whole answer; returns 0, or -1 with *failed (and errno) set. */
static int exchange(int fd, const char **failed)
{
	char header[HEADER_MAX + 1];
	size_t used = 0, header_len;
	long length = -1, body_seen;
	char *end, *field;

	if (send_all(fd, request, request_len) < 0) {
		*failed = "send";
		return -1;
	}
	for (;;) {
		ssize_t got = recv(fd, header + used, HEADER_MAX - used, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			*failed = got == 0 ? "recv (connection closed before the answer)" : "recv";
			if (got == 0)
				errno = ECONNRESET;
			return -1;
		}
		used += (size_t)got;
		header[used] = '\0';
		if ((end = strstr(header, "\r\n\r\n")) != NULL)
			break;
		if (used == HEADER_MAX) {
			*failed = "answer header larger than 4 KiB";
			errno = EPROTO;
			return -1;
		}
	}
	header_len = (size_t)(end - header) + 4;
	if (strncmp(header, "HTTP/1.1 200 ", 13) != 0) {
		*failed = "answer not 200";
		errno = EPROTO;
		return -1;
	}
	for (field = strstr(header, "\r\n"); field && field < end; field = strstr(field + 2, "\r\n"))
		if (strncasecmp(field + 2, "Content-Length:", 15) == 0)
			length = strtol(field + 17, NULL, 10);
	if (length < 0) {
		*failed = "answer without Content-Length";
		errno = EPROTO;
		return -1;
	}
	body_seen = (long)(used - header_len);
	while (body_seen < length) {
		size_t want = (size_t)(length - body_seen) < CHUNK ? (size_t)(length - body_seen) : CHUNK;
		ssize_t got = recv(fd, chunk, want, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			*failed = got == 0 ? "recv (connection closed in the body)" : "recv (body)";
			if (got == 0)
				errno = ECONNRESET;
			return -1;
		}
		body_seen += got;
	}
	if (body_seen != length) {
		*failed = "answer longer than its Content-Length";
		errno = EPROTO;
		return -1;
	}
	body_bytes = length;
	return 0;
}

/* One short-connection round; returns its duration in ns, or 0 with *failed and errno set. */
static uint64_t one_short(const struct sockaddr_in *target, const char **failed)
{
	uint64_t start, took;
	int fd = open_socket(failed);

	if (fd < 0)
		return 0;
	start = now_ns();
	if (connect(fd, (const struct sockaddr *)target, sizeof(*target)) < 0) {
		int error = errno;

		*failed = "connect";
		close(fd);
		errno = error;
		return 0;
	}
	if (exchange(fd, failed) < 0) {
		int error = errno;

		close(fd);
		errno = error;
		return 0;
	}
	took = now_ns() - start;
	/* the server closes first: wait for its FIN (untimed) so that this end never sits in TIME_WAIT */
	while (recv(fd, chunk, sizeof(chunk), 0) > 0)
		;
	close(fd);
	return took > 0 ? took : 1;
}

/* One round on the kept-alive connection; returns its duration in ns, or 0 with *failed and errno set. */
static uint64_t one_kept(int fd, const char **failed)
{
	uint64_t start = now_ns(), took;

	if (exchange(fd, failed) < 0)
		return 0;
	took = now_ns() - start;
	return took > 0 ? took : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: http_rr IPV4-ADDRESS PORT (-n COUNT | -d SECONDS) [-w WARMUP] [-k] [-p PATH]\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_in target = { .sin_family = AF_INET };
	long count = 0, warmup = 100;
	double seconds = 0;
	int keep_alive = 0, fd = -1;
	const char *path = "/";
	uint64_t *samples = NULL;
	size_t used = 0, capacity = 0;
	uint64_t started, elapsed, deadline = 0, total = 0;
	const char *failed = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "n:d:w:kp:")) != -1) {
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
		case 'k':
			keep_alive = 1;
			break;
		case 'p':
			path = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 2 || inet_pton(AF_INET, argv[optind], &target.sin_addr) != 1 ||
	    (count > 0) == (seconds > 0) || count < 0 || seconds < 0 || warmup < 0 || strlen(path) > 256) {
		usage();
		return 2;
	}
	target.sin_port = htons((unsigned short)atoi(argv[optind + 1]));
	request_len = (size_t)snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path,
				       argv[optind], keep_alive ? "" : "Connection: close\r\n");

	if (keep_alive) {
		fd = open_socket(&failed);
		if (fd < 0 || connect(fd, (const struct sockaddr *)&target, sizeof(target)) < 0) {
			fprintf(stderr, "http_rr: %s to %s:%s: %s\n", fd < 0 ? failed : "connect", argv[optind],
				argv[optind + 1], strerror(errno));
			return 1;
		}
	}
	for (long i = 0; i < warmup; i++) {
		if ((keep_alive ? one_kept(fd, &failed) : one_short(&target, &failed)) == 0) {
			fprintf(stderr, "http_rr: warm-up round %ld: %s to %s:%s: %s\n", i + 1, failed, argv[optind],
				argv[optind + 1], strerror(errno));
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
				fprintf(stderr, "http_rr: out of memory after %zu rounds\n", used);
				return 1;
			}
			samples = grown;
		}
		took = keep_alive ? one_kept(fd, &failed) : one_short(&target, &failed);
		if (took == 0) {
			fprintf(stderr, "http_rr: round %zu: %s to %s:%s: %s\n", used + 1, failed, argv[optind],
				argv[optind + 1], strerror(errno));
			return 1;
		}
		samples[used++] = took;
		total += took;
	}
	if (fd >= 0)
		close(fd);
	if (used == 0) {
		fprintf(stderr, "http_rr: no round completed\n");
		return 1;
	}

	elapsed = now_ns() - started;
	qsort(samples, used, sizeof(*samples), compare_u64);
	printf("requests=%zu p50_us=%.2f p90_us=%.2f p99_us=%.2f mean_us=%.2f min_us=%.2f max_us=%.2f seconds=%.3f body_bytes=%ld\n",
	       used, percentile_us(samples, used, 500), percentile_us(samples, used, 900),
	       percentile_us(samples, used, 990), (double)total / (double)used / 1000.0,
	       (double)samples[0] / 1000.0, (double)samples[used - 1] / 1000.0, (double)elapsed / 1e9,
	       body_bytes);
	free(samples);
	return 0;
}
