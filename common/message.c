/*
 * message.c - see message.h. Pure functions over caller buffers; the only
 * shared state is the process-wide unique-id generator (atomics plus a
 * one-word spin lock held only while the month boundary is recomputed).
 *
 * The decoder is strict: every length is checked against TOTALSIZE and the
 * buffer, so garbage yields an error code and never a read out of bounds.
 */
#define _GNU_SOURCE
#include "message.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "crc.h"

#include "util.h"

const char *msg_strerror(int code)
{
#define MSG_RESULT_CASE_(name, value, text) \
    case value: return text;
    switch (code) {
        MSG_RESULTS(MSG_RESULT_CASE_)
    default: return "unknown message error";
    }
#undef MSG_RESULT_CASE_
}

/* ---- hosts ---------------------------------------------------------------- */

int msg_host_set(msg_host *h, const char *ip, int32_t port)
{
    memset(h, 0, sizeof *h);
    h->port = port;
    if (inet_pton(AF_INET, ip, h->addr) == 1)
        return 0;
    if (inet_pton(AF_INET6, ip, h->addr) == 1) {
        h->ipv6 = true;
        return 0;
    }
    return -1;
}

int msg_host_format(const msg_host *h, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(h->ipv6 ? AF_INET6 : AF_INET, h->addr, ip, sizeof ip);
    return snprintf(out, cap, h->ipv6 ? "[%s]:%d" : "%s:%d", ip, (int)h->port);
}

static size_t host_len(bool ipv6) { return ipv6 ? 20 : 8; }

static uint8_t *put_host(uint8_t *p, const msg_host *h)
{
    size_t n = h->ipv6 ? 16 : 4;
    memcpy(p, h->addr, n);
    be32_store(p + n, (uint32_t)h->port);
    return p + n + 4;
}

static const uint8_t *get_host(const uint8_t *p, bool ipv6, msg_host *h)
{
    size_t n = ipv6 ? 16 : 4;
    memset(h->addr, 0, sizeof h->addr);
    memcpy(h->addr, p, n);
    h->port = (int32_t)be32_load(p + n);
    h->ipv6 = ipv6;
    return p + n + 4;
}

/* ---- records -------------------------------------------------------------- */

uint32_t msg_body_crc(const void *body, size_t len)
{
    return mq_crc32(0, body, len) & 0x7FFFFFFFu;
}

size_t msg_record_size(const msg_record *r)
{
    size_t topic_len_size = r->topic_len > MSG_TOPIC_MAX_V1 ? 2 : 1;
    return 84 - 16 + host_len(r->born_host.ipv6) + host_len(r->store_host.ipv6) + 4 +
           r->body_len + topic_len_size + r->topic_len + 2 + r->properties_len;
}

size_t msg_store_timestamp_pos(int32_t sysflag)
{
    return (size_t)MSG_POS_BORNHOST + ((sysflag & MSG_SYSFLAG_BORNHOST_V6) ? 20 : 8);
}

int64_t msg_peek_store_timestamp(const void *record)
{
    const uint8_t *p = record;
    int32_t sysflag = (int32_t)be32_load(p + MSG_POS_SYSFLAG);
    return (int64_t)be64_load(p + msg_store_timestamp_pos(sysflag));
}

int msg_encode(const msg_record *r, void *dst, size_t cap)
{
    if (r->topic_len > 32767 || r->properties_len > MSG_PROPERTIES_MAX)
        return MSG_ERR_TOO_LARGE;
    size_t total = msg_record_size(r);
    if (total > INT32_MAX)
        return MSG_ERR_TOO_LARGE;
    if (total > cap)
        return MSG_ERR_NO_SPACE;
    bool v2 = r->topic_len > MSG_TOPIC_MAX_V1;
    int32_t sysflag = r->sysflag & ~(MSG_SYSFLAG_BORNHOST_V6 | MSG_SYSFLAG_STOREHOST_V6);
    if (r->born_host.ipv6)
        sysflag |= MSG_SYSFLAG_BORNHOST_V6;
    if (r->store_host.ipv6)
        sysflag |= MSG_SYSFLAG_STOREHOST_V6;

    uint8_t *base = dst;
    uint8_t *p = base + 4; /* TOTALSIZE is stored last */
    be32_store(p, v2 ? MSG_MAGIC_V2 : MSG_MAGIC_V1);
    be32_store(p + 4, r->body_crc);
    be32_store(p + 8, (uint32_t)r->queue_id);
    be32_store(p + 12, (uint32_t)r->flag);
    be64_store(p + 16, (uint64_t)r->queue_offset);
    be64_store(p + 24, (uint64_t)r->physical_offset);
    be32_store(p + 32, (uint32_t)sysflag);
    be64_store(p + 36, (uint64_t)r->born_timestamp);
    p = put_host(p + 44, &r->born_host);
    be64_store(p, (uint64_t)r->store_timestamp);
    p = put_host(p + 8, &r->store_host);
    be32_store(p, (uint32_t)r->reconsume_times);
    be64_store(p + 4, (uint64_t)r->prepared_transaction_offset);
    be32_store(p + 12, r->body_len);
    p += 16;
    if (r->body_len)
        memcpy(p, r->body, r->body_len);
    p += r->body_len;
    if (v2) {
        be16_store(p, (uint16_t)r->topic_len);
        p += 2;
    } else {
        *p++ = (uint8_t)r->topic_len;
    }
    memcpy(p, r->topic, r->topic_len);
    p += r->topic_len;
    be16_store(p, (uint16_t)r->properties_len);
    p += 2;
    if (r->properties_len)
        memcpy(p, r->properties, r->properties_len);
    /* Keep the compiler from moving the size store before the payload: a
     * reader after a crash must see TOTALSIZE only on a complete record. */
    __atomic_signal_fence(__ATOMIC_RELEASE);
    be32_store(base, (uint32_t)total);
    return (int)total;
}

void msg_encode_blank(void *dst, uint32_t blank_len)
{
    uint8_t *p = dst;
    be32_store(p + 4, MSG_MAGIC_BLANK);
    __atomic_signal_fence(__ATOMIC_RELEASE);
    be32_store(p, blank_len);
}

int msg_decode(const void *buf, size_t len, bool verify_crc, msg_record *out)
{
    const uint8_t *base = buf;
    if (len < 8)
        return MSG_ERR_TRUNCATED;
    uint32_t total = be32_load(base);
    uint32_t magic = be32_load(base + 4);
    if (magic == MSG_MAGIC_BLANK) {
        memset(out, 0, sizeof *out);
        out->total_size = total;
        out->magic = magic;
        return MSG_BLANK;
    }
    if (magic != MSG_MAGIC_V1 && magic != MSG_MAGIC_V2)
        return MSG_ERR_MAGIC;
    if (total > len)
        return MSG_ERR_TRUNCATED;
    if (total < MSG_FIXED_LEN_V4 + 1 + 2)
        return MSG_ERR_LENGTH;
    out->total_size = total;
    out->magic = magic;
    out->body_crc = be32_load(base + 8);
    out->queue_id = (int32_t)be32_load(base + 12);
    out->flag = (int32_t)be32_load(base + 16);
    out->queue_offset = (int64_t)be64_load(base + 20);
    out->physical_offset = (int64_t)be64_load(base + 28);
    out->sysflag = (int32_t)be32_load(base + 36);
    out->born_timestamp = (int64_t)be64_load(base + 40);
    bool born6 = out->sysflag & MSG_SYSFLAG_BORNHOST_V6;
    bool store6 = out->sysflag & MSG_SYSFLAG_STOREHOST_V6;
    size_t fixed = 84 - 16 + host_len(born6) + host_len(store6) + 4;
    if (total < fixed + 1 + 2)
        return MSG_ERR_LENGTH;
    const uint8_t *p = get_host(base + 48, born6, &out->born_host);
    out->store_timestamp = (int64_t)be64_load(p);
    p = get_host(p + 8, store6, &out->store_host);
    out->reconsume_times = (int32_t)be32_load(p);
    out->prepared_transaction_offset = (int64_t)be64_load(p + 4);
    uint32_t body_len = be32_load(p + 12);
    p += 16;
    const uint8_t *end = base + total;
    /* Remaining bytes must hold body, topic length, topic, props length. */
    if (body_len > (size_t)(end - p))
        return MSG_ERR_LENGTH;
    out->body = p;
    out->body_len = body_len;
    p += body_len;
    uint32_t topic_len;
    if (magic == MSG_MAGIC_V2) {
        if (end - p < 2)
            return MSG_ERR_LENGTH;
        topic_len = be16_load(p);
        p += 2;
    } else {
        if (end - p < 1)
            return MSG_ERR_LENGTH;
        topic_len = *p++;
    }
    if (topic_len > (size_t)(end - p))
        return MSG_ERR_LENGTH;
    out->topic = (const char *)p;
    out->topic_len = topic_len;
    p += topic_len;
    if (end - p < 2)
        return MSG_ERR_LENGTH;
    uint32_t props_len = be16_load(p);
    p += 2;
    if (props_len != (size_t)(end - p))
        return MSG_ERR_LENGTH;
    out->properties = (const char *)p;
    out->properties_len = props_len;
    if (verify_crc && msg_body_crc(out->body, body_len) != out->body_crc)
        return MSG_ERR_CRC;
    return MSG_OK;
}

/* ---- properties ----------------------------------------------------------- */

bool msg_prop_next(const char *props, size_t len, size_t *it, const char **key, size_t *klen,
                   const char **val, size_t *vlen)
{
    while (*it < len) {
        const char *start = props + *it;
        const char *pair_end = memchr(start, MSG_PROPERTY_SEPARATOR, len - *it);
        size_t pair_len = pair_end ? (size_t)(pair_end - start) : len - *it;
        *it += pair_len + (pair_end ? 1 : 0);
        if (pair_len == 0)
            continue;
        const char *sep = memchr(start, MSG_NAME_VALUE_SEPARATOR, pair_len);
        if (!sep)
            continue; /* malformed pair: no name/value separator; skip it */
        *key = start;
        *klen = (size_t)(sep - start);
        *val = sep + 1;
        *vlen = pair_len - *klen - 1;
        return true;
    }
    return false;
}

bool msg_prop_get(const char *props, size_t len, const char *key, const char **val,
                  size_t *vlen)
{
    size_t want = strlen(key);
    size_t it = 0;
    const char *k, *v;
    size_t kl, vl;
    while (msg_prop_next(props, len, &it, &k, &kl, &v, &vl)) {
        if (kl == want && memcmp(k, key, kl) == 0) {
            *val = v;
            *vlen = vl;
            return true;
        }
    }
    return false;
}

static bool has_separator(const char *s, size_t n)
{
    return memchr(s, MSG_NAME_VALUE_SEPARATOR, n) || memchr(s, MSG_PROPERTY_SEPARATOR, n);
}

int msg_prop_appendn(bytebuf *b, const char *key, size_t klen, const char *value, size_t vlen)
{
    if (klen == 0 || has_separator(key, klen) || has_separator(value, vlen))
        return MSG_ERR_INVALID;
    size_t need = klen + vlen + 2;
    uint8_t *p = bytebuf_reserve(b, need);
    if (b->len > 0)
        *p++ = MSG_PROPERTY_SEPARATOR;
    memcpy(p, key, klen);
    p += klen;
    *p++ = MSG_NAME_VALUE_SEPARATOR;
    memcpy(p, value, vlen);
    p += vlen;
    b->len = (size_t)(p - b->data);
    return 0;
}

int msg_prop_append(bytebuf *b, const char *key, const char *value)
{
    return msg_prop_appendn(b, key, strlen(key), value, strlen(value));
}

int msg_prop_remove(bytebuf *b, const char *key)
{
    size_t want = strlen(key);
    size_t it = 0, out = 0;
    int removed = 0;
    const char *k, *v;
    size_t kl, vl;
    char *s = (char *)b->data;
    while (msg_prop_next(s, b->len, &it, &k, &kl, &v, &vl)) {
        if (kl == want && memcmp(k, key, kl) == 0) {
            removed++;
            continue;
        }
        /* Pairs only move towards the front, so memmove is safe. */
        if (out > 0)
            s[out++] = MSG_PROPERTY_SEPARATOR;
        size_t pair = kl + 1 + vl;
        memmove(s + out, k, pair);
        out += pair;
    }
    b->len = out;
    return removed;
}

int msg_prop_set(bytebuf *b, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    if (kl == 0 || has_separator(key, kl) || has_separator(value, vl))
        return MSG_ERR_INVALID;
    msg_prop_remove(b, key);
    return msg_prop_appendn(b, key, kl, value, vl);
}

/* ---- hashes --------------------------------------------------------------- */

/* Decodes one UTF-8 code point at s (n > 0 bytes). Returns bytes consumed and
 * the code point, U+FFFD for a malformed sequence (consuming one byte), as a
 * Java decoder with REPLACE would for most inputs. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        need = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        need = 4, v = c & 0x07, min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (n < need) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return need;
}

int32_t msg_java_hash_update(int32_t h0, const char *utf8, size_t len)
{
    uint32_t h = (uint32_t)h0; /* unsigned arithmetic = Java's int wrap-around */
    const uint8_t *s = (const uint8_t *)utf8;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) { /* fast path for ASCII */
            h = h * 31u + s[i++];
            continue;
        }
        uint32_t cp;
        i += utf8_next(s + i, len - i, &cp);
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            h = h * 31u + (0xD800u + (v >> 10));
            h = h * 31u + (0xDC00u + (v & 0x3FFu));
        } else {
            h = h * 31u + cp;
        }
    }
    return (int32_t)h;
}

int32_t msg_java_hash(const char *utf8, size_t len) { return msg_java_hash_update(0, utf8, len); }

int64_t msg_tag_hash(const char *tags, size_t len)
{
    if (!tags || len == 0)
        return 0;
    return (int64_t)msg_java_hash(tags, len);
}

int32_t msg_index_key_hash(const char *topic, size_t tlen, const char *key, size_t klen)
{
    int32_t h = msg_java_hash_update(0, topic, tlen);
    h = msg_java_hash_update(h, "#", 1);
    h = msg_java_hash_update(h, key, klen);
    if (h == INT32_MIN)
        return 0;
    return h < 0 ? -h : h;
}

/* ---- message ids ---------------------------------------------------------- */

static const char HEX[] = "0123456789ABCDEF";

static char *hex_put(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *out++ = HEX[p[i] >> 4];
        *out++ = HEX[p[i] & 15];
    }
    return out;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int hex_get(const char *s, size_t nbytes, uint8_t *out)
{
    for (size_t i = 0; i < nbytes; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int msg_offset_id_encode(const msg_host *store_host, int64_t offset, char *out, size_t cap)
{
    uint8_t raw[28];
    size_t alen = store_host->ipv6 ? 16 : 4;
    memcpy(raw, store_host->addr, alen);
    be32_store(raw + alen, (uint32_t)store_host->port);
    be64_store(raw + alen + 4, (uint64_t)offset);
    size_t n = alen + 12;
    if (cap < n * 2 + 1)
        return MSG_ERR_NO_SPACE;
    *hex_put(out, raw, n) = '\0';
    return (int)(n * 2);
}

int msg_offset_id_decode(const char *id, size_t len, msg_host *host, int64_t *offset)
{
    if (len != MSG_OFFSET_ID_LEN_V4 && len != MSG_OFFSET_ID_LEN_V6)
        return MSG_ERR_INVALID;
    uint8_t raw[28];
    if (hex_get(id, len / 2, raw) != 0)
        return MSG_ERR_INVALID;
    size_t alen = len == MSG_OFFSET_ID_LEN_V6 ? 16 : 4;
    memset(host, 0, sizeof *host);
    memcpy(host->addr, raw, alen);
    host->ipv6 = alen == 16;
    host->port = (int32_t)be32_load(raw + alen);
    *offset = (int64_t)be64_load(raw + alen + 4);
    return 0;
}

/* Start of the local-time month containing t (ms), and of the next one. */
static void month_bounds(int64_t t, int64_t *start, int64_t *next)
{
    time_t secs = (time_t)(t / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    *start = (int64_t)mktime(&tm) * 1000;
    tm.tm_mon += 1;
    tm.tm_isdst = -1;
    *next = (int64_t)mktime(&tm) * 1000;
}

void msg_uniq_gen_init(msg_uniq_gen *g, const uint8_t *ip, size_t ip_len, uint16_t pid,
                       uint32_t hash)
{
    memset(g, 0, sizeof *g);
    uint8_t raw[22];
    memcpy(raw, ip, ip_len);
    be16_store(raw + ip_len, pid);
    be32_store(raw + ip_len + 2, hash);
    char *end = hex_put(g->prefix, raw, ip_len + 6);
    *end = '\0';
    g->prefix_len = (size_t)(end - g->prefix);
    g->month_start_ms = 0;
    g->next_month_ms = 0; /* forces a computation on first use */
}

int msg_uniq_gen_next(msg_uniq_gen *g, int64_t now, char *out, size_t cap)
{
    size_t len = g->prefix_len + 12;
    if (cap < len + 1)
        return MSG_ERR_NO_SPACE;
    int64_t start = __atomic_load_n(&g->month_start_ms, __ATOMIC_ACQUIRE);
    int64_t next = __atomic_load_n(&g->next_month_ms, __ATOMIC_ACQUIRE);
    if (now >= next || now < start) {
        while (__atomic_exchange_n(&g->lock, 1, __ATOMIC_ACQUIRE))
            ;
        month_bounds(now, &start, &next);
        __atomic_store_n(&g->month_start_ms, start, __ATOMIC_RELEASE);
        __atomic_store_n(&g->next_month_ms, next, __ATOMIC_RELEASE);
        __atomic_store_n(&g->lock, 0, __ATOMIC_RELEASE);
    }
    uint32_t diff = (uint32_t)(int32_t)(now - start);
    uint16_t count = (uint16_t)__atomic_fetch_add(&g->counter, 1, __ATOMIC_RELAXED);
    uint8_t raw[6];
    be32_store(raw, diff);
    be16_store(raw + 4, count);
    memcpy(out, g->prefix, g->prefix_len);
    *hex_put(out + g->prefix_len, raw, 6) = '\0';
    return (int)len;
}

static msg_uniq_gen g_uniq;
static pthread_once_t g_uniq_once = PTHREAD_ONCE_INIT;

static void uniq_global_init(void)
{
    uint8_t ip[4] = {127, 0, 0, 1};
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                continue;
            if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                continue;
            memcpy(ip, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
            break;
        }
        freeifaddrs(ifs);
    }
    uint32_t hash;
    if (getrandom(&hash, sizeof hash, GRND_NONBLOCK) != (ssize_t)sizeof hash)
        hash = (uint32_t)(mono_ns() ^ ((uint64_t)getpid() << 16));
    msg_uniq_gen_init(&g_uniq, ip, 4, (uint16_t)getpid(), hash);
}

int msg_uniq_id_new(char *out, size_t cap)
{
    pthread_once(&g_uniq_once, uniq_global_init);
    return msg_uniq_gen_next(&g_uniq, now_ms(), out, cap);
}

int msg_uniq_id_decode(const char *id, size_t len, msg_host *ip, int64_t now, int64_t *born_ms)
{
    size_t ip_len;
    if (len == 32)
        ip_len = 4;
    else if (len == 56)
        ip_len = 16;
    else
        return MSG_ERR_INVALID;
    uint8_t raw[28];
    if (hex_get(id, len / 2, raw) != 0)
        return MSG_ERR_INVALID;
    memset(ip, 0, sizeof *ip);
    memcpy(ip->addr, raw, ip_len);
    ip->ipv6 = ip_len == 16;
    int64_t diff = (int64_t)be32_load(raw + ip_len + 6);
    int64_t start, next;
    month_bounds(now, &start, &next);
    int64_t t = start + diff;
    if (t > now) { /* made last month */
        int64_t prev_start, unused;
        month_bounds(start - 1, &prev_start, &unused);
        t = prev_start + diff;
    }
    *born_ms = t;
    return 0;
}

/* ---- batch body ----------------------------------------------------------- */

int msg_batch_encode(bytebuf *out, const msg_batch_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const msg_batch_item *m = &items[i];
        if (m->properties_len > MSG_PROPERTIES_MAX)
            return MSG_ERR_TOO_LARGE;
        uint64_t total = MSG_BATCH_ITEM_FIXED + (uint64_t)m->body_len + m->properties_len;
        if (total > INT32_MAX)
            return MSG_ERR_TOO_LARGE;
        uint8_t *p = bytebuf_reserve(out, (size_t)total);
        be32_store(p, (uint32_t)total);
        be32_store(p + 4, 0);
        be32_store(p + 8, 0);
        be32_store(p + 12, (uint32_t)m->flag);
        be32_store(p + 16, m->body_len);
        if (m->body_len)
            memcpy(p + 20, m->body, m->body_len);
        p += 20 + m->body_len;
        be16_store(p, (uint16_t)m->properties_len);
        if (m->properties_len)
            memcpy(p + 2, m->properties, m->properties_len);
        out->len += (size_t)total;
    }
    return 0;
}

void msg_batch_iter_init(msg_batch_iter *it, const void *buf, size_t len)
{
    it->p = buf;
    it->end = it->p + len;
}

int msg_batch_next(msg_batch_iter *it, msg_batch_item *out)
{
    size_t avail = (size_t)(it->end - it->p);
    if (avail == 0)
        return 0;
    if (avail < MSG_BATCH_ITEM_FIXED)
        return MSG_ERR_TRUNCATED;
    const uint8_t *p = it->p;
    uint32_t total = be32_load(p);
    if (total < MSG_BATCH_ITEM_FIXED)
        return MSG_ERR_LENGTH;
    if (total > avail)
        return MSG_ERR_TRUNCATED;
    uint32_t body_len = be32_load(p + 16);
    if (body_len > total - MSG_BATCH_ITEM_FIXED)
        return MSG_ERR_LENGTH;
    uint32_t props_len = be16_load(p + 20 + body_len);
    if ((uint64_t)MSG_BATCH_ITEM_FIXED + body_len + props_len != total)
        return MSG_ERR_LENGTH;
    out->flag = (int32_t)be32_load(p + 12);
    out->body = p + 20;
    out->body_len = body_len;
    out->properties = (const char *)(p + 22 + body_len);
    out->properties_len = props_len;
    it->p += total;
    return 1;
}
