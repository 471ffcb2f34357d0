/*
 * addr.h - "host:port" addresses as RocketMQ writes them, and the local IP.
 *
 * Hosts are numeric IPv4/IPv6 or names; names are resolved with a blocking
 * getaddrinfo, so resolve at start-up, not on a hot path.
 */
#ifndef MQ_ADDR_H
#define MQ_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest "ip:port" text, IPv6 in brackets included. */
#define ADDR_TEXT_MAX 64

/* Splits "host:port" ("[v6]:port" too). Returns 0, or -1 with err filled. */
int addr_split(const char *text, char *host, size_t host_cap, int *port, char *err, size_t errlen);

/* Parses "host:port" into a socket address. Returns 0, or -1 with err filled. */
int addr_resolve(const char *text, struct sockaddr_storage *out, socklen_t *len, char *err, size_t errlen);

/* Formats a socket address as "ip:port". */
void addr_format(const struct sockaddr *sa, char *out, size_t cap);

/* IPv4 address of the socket's local/peer end in host byte order, 0 if not IPv4. */
uint32_t addr_ipv4(const struct sockaddr *sa);
int addr_port(const struct sockaddr *sa);

/* The first non-loopback IPv4 address of this host, else 127.0.0.1, as text. */
void addr_local_ip(char *out, size_t cap);

/* Most nameservers one process talks to (entries of one nameserver list). */
enum { MAX_NAMESRV = 32 };

/* Splits a RocketMQ nameserver list "a:9876;b:9876" (also ',' or spaces) into
 * up to max entries copied into out[i] (each ADDR_TEXT_MAX bytes). Returns
 * the number found, or -1 if an entry is malformed (err filled). */
int addr_list_split(const char *list, char (*out)[ADDR_TEXT_MAX], int max, char *err, size_t errlen);

/* True if list names at least one nameserver and every one is on this
 * host's loopback (127.0.0.0/8, ::1, or a name resolving only to those).
 * Names are resolved (blocking): call at start-up. */
bool addr_list_all_loopback(const char *list);

#ifdef __cplusplus
}
#endif

#endif
