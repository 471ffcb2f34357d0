// http_client.h - one HTTP exchange on loopback for tests of the servers'
// HTTP endpoints: sends raw request bytes (well-formed or not) and reads
// the answer until its Content-Length is complete, the server closes, or
// a deadline passes (the servers keep connections alive, so "until close"
// would wait for the idle timeout).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "raw_socket.h"

// The whole answer (head and body), or "" if none came.
inline std::string http_exchange(int port, const std::string &request, int timeout_ms = 5000) {
    RawSocket s(port);
    if (!s.ok() || !s.send_all(request))
        return "";
    std::string out;
    char buf[8192];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        size_t head_end = out.find("\r\n\r\n");
        if (head_end != std::string::npos) {
            std::string head = out.substr(0, head_end);
            for (auto &ch : head)
                ch = (char)tolower((unsigned char)ch);
            size_t cl = head.find("content-length:");
            bool is_head = request.compare(0, 5, "HEAD ") == 0;
            if (cl != std::string::npos &&
                (is_head || out.size() >= head_end + 4 + strtoull(head.c_str() + cl + 15, nullptr, 10)))
                break;
        }
        pollfd p{s.fd(), POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv(s.fd(), buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, (size_t)n);
    }
    return out;
}

inline std::string http_get(int port, const std::string &path) {
    return http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n");
}

inline int http_status(const std::string &resp) { return resp.size() > 12 ? atoi(resp.c_str() + 9) : 0; }

// The body of an answer ("" if none).
inline std::string http_body(const std::string &resp) {
    size_t at = resp.find("\r\n\r\n");
    return at == std::string::npos ? "" : resp.substr(at + 4);
}
