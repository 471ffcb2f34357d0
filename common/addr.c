/*
 * addr.c - see addr.h.
 */
#define _GNU_SOURCE
#include "addr.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int addr_split(const char *text, char *host, size_t host_cap, int *port, char *err, size_t errlen)
{
    const char *colon;
    const char *h = text;
    size_t hlen;
    if (!text || !*text) {
        snprintf(err, errlen, "empty address");
        return -1;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "bad address '%s': expected [ipv6]:port", text);
            return -1;
        }
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon) {
            snprintf(err, errlen, "bad address '%s': expected host:port", text);
            return -1;
        }
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen >= host_cap) {
        snprintf(err, errlen, "bad address '%s': bad host", text);
        return -1;
    }
    int32_t p;
    if (parse_int32(colon + 1, 0, 65535, &p) != 0) {
        snprintf(err, errlen, "bad address '%s': port must be 0..65535", text);
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = p;
    return 0;
}

int addr_resolve(const char *text, struct sockaddr_storage *out, socklen_t *len, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (addr_split(text, host, sizeof host, &port, err, errlen) != 0)
        return -1;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, portstr, &hints, &res);
    }
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve '%s': %s", text, gai_strerror(rc));
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%d", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%d", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(out, cap, "unknown");
    }
}

uint32_t addr_ipv4(const struct sockaddr *sa)
{
    if (sa->sa_family != AF_INET)
        return 0;
    return ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
}

int addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

void addr_local_ip(char *out, size_t cap)
{
    struct ifaddrs *ifs = NULL;
    str_copy(out, cap, "127.0.0.1");
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
            continue;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof ip);
        str_copy(out, cap, ip);
        break;
    }
    freeifaddrs(ifs);
}

int addr_list_split(const char *list, char (*out)[ADDR_TEXT_MAX], int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ';' || *p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        if (n >= max) {
            snprintf(err, errlen, "too many addresses in '%s' (at most %d)", list, max);
            return -1;
        }
        if (len >= ADDR_TEXT_MAX) {
            snprintf(err, errlen, "address too long in '%s'", list);
            return -1;
        }
        memcpy(out[n], start, len);
        out[n][len] = '\0';
        char host[256];
        int port;
        if (addr_split(out[n], host, sizeof host, &port, err, errlen) != 0)
            return -1;
        n++;
    }
    return n;
}

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(a))
            return a->s6_addr[12] == 127;
    }
    return false;
}

bool addr_list_all_loopback(const char *list)
{
    char addrs[MAX_NAMESRV][ADDR_TEXT_MAX];
    char err[256];
    int n = addr_list_split(list, addrs, MAX_NAMESRV, err, sizeof err);
    if (n <= 0)
        return false;
    for (int i = 0; i < n; i++) {
        char host[256];
        int port;
        if (addr_split(addrs[i], host, sizeof host, &port, err, sizeof err) != 0)
            return false;
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
            return false;
        bool all = true;
        for (struct addrinfo *r = res; r && all; r = r->ai_next)
            all = sockaddr_is_loopback(r->ai_addr);
        freeaddrinfo(res);
        if (!all)
            return false;
    }
    return true;
}
