// raw_socket.h - a blocking TCP client for tests that must send bytes no
// well-behaved client would (garbage, truncated frames) or never read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include "bytes.h"
#include "frame.h"
#include "protocol.h"
}

class RawSocket {
  public:
    explicit RawSocket(int port, int rcvbuf = 0) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0)
            setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = connect(fd_, (sockaddr *)&a, sizeof a) == 0;
    }
    ~RawSocket() {
        if (fd_ >= 0)
            close(fd_);
    }
    bool ok() const { return ok_; }
    int fd() const { return fd_; }

    bool send_all(const void *p, size_t n) {
        const char *c = static_cast<const char *>(p);
        while (n > 0) {
            ssize_t w = ::send(fd_, c, n, MSG_NOSIGNAL);
            if (w <= 0) {
                if (w < 0 && errno == EINTR)
                    continue;
                return false;
            }
            c += w;
            n -= (size_t)w;
        }
        return true;
    }
    bool send_all(const std::string &s) { return send_all(s.data(), s.size()); }

    // Reads one whole frame (blocking up to timeout_ms). Returns false on
    // timeout or close; `closed` tells which.
    bool read_frame(std::vector<uint8_t> &out, int timeout_ms = 5000) {
        out.clear();
        if (!read_n(out, 4, timeout_ms))
            return false;
        uint32_t len = be32_load(out.data());
        return read_n(out, len, timeout_ms);
    }

    // True if the peer closed (EOF or reset) within timeout_ms; skips any data.
    bool wait_closed(int timeout_ms = 5000) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        char buf[65536];
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            int left = (int)std::chrono::duration_cast<std::chrono::milliseconds>(
                           deadline - std::chrono::steady_clock::now())
                           .count();
            if (poll(&p, 1, left > 0 ? left : 0) <= 0)
                continue;
            ssize_t r = recv(fd_, buf, sizeof buf, 0);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
                return true;
        }
        return false;
    }
    bool closed() const { return closed_; }

  private:
    bool read_n(std::vector<uint8_t> &out, size_t n, int timeout_ms) {
        size_t start = out.size();
        out.resize(start + n);
        size_t got = 0;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (got < n) {
            int left = (int)std::chrono::duration_cast<std::chrono::milliseconds>(
                           deadline - std::chrono::steady_clock::now())
                           .count();
            if (left <= 0)
                return false;
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, left) <= 0)
                continue;
            ssize_t r = recv(fd_, out.data() + start + got, n - got, 0);
            if (r == 0) {
                closed_ = true;
                return false;
            }
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                closed_ = true;
                return false;
            }
            got += (size_t)r;
        }
        return true;
    }
    int fd_ = -1;
    bool ok_ = false;
    bool closed_ = false;
};

// A whole frame with our protobuf header (serialize type 2).
inline std::string make_frame(Mq__RemotingHeader *h, const std::string &body = "") {
    bytebuf b;
    bytebuf_init(&b);
    char err[128];
    frame_encode(RM_SERIALIZE_PROTOBUF, h, body.data(), body.size(), &b, err, sizeof err);
    std::string s((const char *)b.data, b.len);
    bytebuf_free(&b);
    return s;
}

inline std::string make_request(int32_t code, int32_t opaque, const std::string &body = "") {
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = code;
    h.has_code = 1;
    h.opaque = opaque;
    h.has_opaque = 1;
    return make_frame(&h, body);
}
