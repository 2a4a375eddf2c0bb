/*
 * latency_probe: which backend new connections reach, as it changes (bench/Bench, suite latency).
 *
 *   latency_probe serve PORT
 *       Accepts on 0.0.0.0:PORT; answers every connection with the local address it arrived on (the endpoint the
 *       proxy chose), as text, then closes. Prints "listening" once ready.
 *   latency_probe probe ADDRESS PORT INTERVAL_US
 *       Every INTERVAL_US (absolute schedule, CLOCK_MONOTONIC): socket(), a blocking connect() to ADDRESS:PORT, read
 *       the answer, close with SO_LINGER 0 (an RST: no TIME_WAIT). Prints "T GROUP" whenever the answer's group of 4
 *       addresses (the address with its last two bits cleared) differs from the previous connection's: T is the
 *       CLOCK_MONOTONIC time (ns) just before that connection's connect(), i.e. when its SYN left. A failed connection
 *       prints "T !REASON" (once per run of failures). Runs until killed. Prints "probing" first.
 *
 * CLOCK_MONOTONIC is the clock of .NET's Stopwatch on Linux, so the harness compares T with its own timestamps.
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
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int serve(int port)
{
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, listener = socket(AF_INET, SOCK_STREAM, 0);

	if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listener, (struct sockaddr *)&any, sizeof(any)) < 0 || listen(listener, 1024) < 0) {
		perror("latency_probe serve");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		struct sockaddr_in local;
		socklen_t length = sizeof(local);
		char text[INET_ADDRSTRLEN + 1];
		int fd = accept(listener, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		if (getsockname(fd, (struct sockaddr *)&local, &length) == 0 &&
		    inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text) - 1)) {
			size_t n = strlen(text);

			text[n] = '\n';
			if (write(fd, text, n + 1) < 0) {
				/* the client went away: nothing to do */
			}
		}
		close(fd);
	}
}

static int probe(const char *address, int port, long interval_us)
{
	struct sockaddr_in target = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	struct timeval timeout = { .tv_sec = 1, .tv_usec = 0 };
	struct timespec next;
	char last[64] = "";

	if (inet_pton(AF_INET, address, &target.sin_addr) != 1 || interval_us <= 0) {
		fprintf(stderr, "latency_probe probe: bad address or interval\n");
		return 2;
	}
	printf("probing\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		char answer[64], group[64];
		uint64_t started = now_ns();
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		ssize_t got = -1;

		if (fd >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
			if (connect(fd, (struct sockaddr *)&target, sizeof(target)) == 0)
				got = read(fd, answer, sizeof(answer) - 1);
			else
				snprintf(group, sizeof(group), "!%s", strerror(errno));
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
			close(fd);
		} else {
			snprintf(group, sizeof(group), "!socket: %s", strerror(errno));
		}
		if (got > 0) {
			struct in_addr endpoint;

			answer[got] = '\0';
			answer[strcspn(answer, "\n")] = '\0';
			if (inet_pton(AF_INET, answer, &endpoint) == 1) {
				endpoint.s_addr = htonl(ntohl(endpoint.s_addr) & ~3u);
				inet_ntop(AF_INET, &endpoint, group, sizeof(group));
			} else {
				snprintf(group, sizeof(group), "!answer %s", answer);
			}
		} else if (got == 0) {
			snprintf(group, sizeof(group), "!empty answer");
		}
		if (strcmp(group, last) != 0) {
			printf("%llu %s\n", (unsigned long long)started, group);
			fflush(stdout);
			strcpy(last, group);
		}
		next.tv_nsec += interval_us * 1000;
		while (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		if ((uint64_t)next.tv_sec * 1000000000u + (uint64_t)next.tv_nsec < now_ns())
			clock_gettime(CLOCK_MONOTONIC, &next); /* fell behind: no catch-up burst */
		else
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
				;
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "probe") == 0)
		return probe(argv[2], atoi(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: latency_probe serve PORT | latency_probe probe ADDRESS PORT INTERVAL_US\n");
	return 2;
}
