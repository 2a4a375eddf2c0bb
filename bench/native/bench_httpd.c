/*
 * bench_httpd: the HTTP server of the end-to-end benchmarks (bench/Bench, suite e2e).
 *
 *   bench_httpd ADDRESS PORT [BODY_BYTES]
 *
 * Answers every request with a fixed body: 2 bytes ("ok") by default, or BODY_BYTES bytes (the
 * multinode-e2e suite's large answers, to load the reply path). A request carrying "Connection: close"
 * gets "Connection: close" back and the connection is closed after the answer (wrk then reconnects:
 * the short-connection benchmark); otherwise the connection stays open (request/response rate).
 * One thread, one epoll loop, nonblocking sockets: per request it costs a read and a write, so on
 * its own CPU it is not what limits the rate. An answer larger than the socket's send buffer is
 * written to the end before the next event is served (poll for room): one client at a time, as the
 * benchmarks use it. Prints "listening" once the socket accepts, and runs until killed. Written for
 * this benchmark only: requests are expected to fit one read buffer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
#define BUFFER 4096

struct conn {
	size_t used;
	char data[BUFFER];
};

static struct conn *conns[MAX_FDS];

static char *keep_alive_answer, *close_answer;
static size_t keep_alive_len, close_len;

/* The two answers (keep-alive, close) with a body of body_bytes ("ok" when 2, else 'x' repeated). */
static int make_answers(long body_bytes)
{
	char header[128];
	int header_len;

	for (int closing = 0; closing < 2; closing++) {
		char *answer;

		header_len = snprintf(header, sizeof(header), "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\nConnection: %s\r\n\r\n",
				      body_bytes, closing ? "close" : "keep-alive");
		answer = malloc((size_t)header_len + (size_t)body_bytes);
		if (!answer)
			return -1;
		memcpy(answer, header, (size_t)header_len);
		memset(answer + header_len, 'x', (size_t)body_bytes);
		if (body_bytes == 2)
			memcpy(answer + header_len, "ok", 2);
		if (closing) {
			close_answer = answer;
			close_len = (size_t)header_len + (size_t)body_bytes;
		} else {
			keep_alive_answer = answer;
			keep_alive_len = (size_t)header_len + (size_t)body_bytes;
		}
	}
	return 0;
}

/* Writes all of data on the nonblocking socket, waiting for room when its send buffer is full. */
static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t sent = write(fd, data, len);

		if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd room = { .fd = fd, .events = POLLOUT };

			if (poll(&room, 1, 5000) <= 0)
				return -1;
			continue;
		}
		if (sent <= 0)
			return -1;
		data += sent;
		len -= (size_t)sent;
	}
	return 0;
}

static void drop(int fd)
{
	free(conns[fd]);
	conns[fd] = NULL;
	close(fd);
}

/* Answers every complete request in the buffer; returns 0 to keep the connection, -1 to close it. */
static int serve(int fd, struct conn *c)
{
	char *start = c->data;
	char *end;

	while ((end = memmem(start, c->used - (size_t)(start - c->data), "\r\n\r\n", 4)) != NULL) {
		int closing;

		*end = '\0';
		closing = strcasestr(start, "connection: close") != NULL;
		if (closing) {
			write_all(fd, close_answer, close_len);
			return -1;
		}
		if (write_all(fd, keep_alive_answer, keep_alive_len) < 0)
			return -1;
		start = end + 4;
	}
	c->used -= (size_t)(start - c->data);
	memmove(c->data, start, c->used);
	return c->used == BUFFER ? -1 : 0; /* a request larger than the buffer: not ours */
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct epoll_event events[256];
	int one = 1;
	int listener, ep;

	long body_bytes = argc == 4 ? strtol(argv[3], NULL, 10) : 2;

	if ((argc != 3 && argc != 4) || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || body_bytes < 0 ||
	    body_bytes > 64L << 20) {
		fprintf(stderr, "usage: bench_httpd IPV4-ADDRESS PORT [BODY_BYTES]\n");
		return 2;
	}
	if (make_answers(body_bytes) < 0) {
		perror("bench_httpd: answers");
		return 1;
	}
	addr.sin_port = htons((unsigned short)atoi(argv[2]));

	listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 4096) < 0) {
		perror("bench_httpd: listen");
		return 1;
	}
	ep = epoll_create1(0);
	events[0].events = EPOLLIN;
	events[0].data.fd = listener;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &events[0]) < 0) {
		perror("bench_httpd: epoll");
		return 1;
	}
	printf("listening on %s:%s\n", argv[1], argv[2]);
	fflush(stdout);

	for (;;) {
		int ready = epoll_wait(ep, events, 256, -1);

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0) {
			perror("bench_httpd: epoll_wait");
			return 1;
		}
		for (int i = 0; i < ready; i++) {
			int fd = events[i].data.fd;

			if (fd == listener) {
				int client;

				while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event ev = { .events = EPOLLIN, .data.fd = client };

					if (client >= MAX_FDS || !(conns[client] = calloc(1, sizeof(struct conn))) ||
					    epoll_ctl(ep, EPOLL_CTL_ADD, client, &ev) < 0) {
						if (client < MAX_FDS)
							drop(client);
						else
							close(client);
						continue;
					}
					setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				}
				continue;
			}

			struct conn *c = conns[fd];
			ssize_t got = read(fd, c->data + c->used, BUFFER - c->used);

			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got <= 0) {
				drop(fd);
				continue;
			}
			c->used += (size_t)got;
			if (serve(fd, c) < 0)
				drop(fd); /* close() also removes it from the epoll set */
		}
	}
}
