// ports.h - free loopback ports for tests (never fixed port numbers).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// A port that was free a moment ago: bind port 0, read it back, close.
// Another process could take it in between; for "nobody listens here" tests
// and for servers started with an explicit port, that window is tolerable.
inline int unused_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (sockaddr *)&sa, sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd, (sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}
