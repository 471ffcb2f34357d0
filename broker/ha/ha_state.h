/*
 * ha_state.h - the failover state files and the epoch comparison
 * (ha_state.c), for the files of broker/ha/ (via ha_internal.h) and the unit
 * test. Plain C types only.
 */
#ifndef MQ_BROKER_HA_STATE_H
#define MQ_BROKER_HA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ours: a slave's first report may be this instead of an offset: the master
 * answers one frame with this offset whose body is its CommitLog max offset
 * (8 bytes) and its epoch history (8-byte epoch + 8-byte start each). */
#define HA_EPOCH_QUERY (-1LL)
#define HA_EPOCH_MAX_ENTRIES 4096

/* Epoch history (ha_state.c). */
typedef struct ha_epoch_entry {
    int64_t epoch, start;
} ha_epoch_entry;
typedef struct ha_history {
    ha_epoch_entry *e;
    size_t n, cap;
} ha_history;

/* ha_state.c: the files under <storePathRootDir>/ha/. Functions returning
 * int give 0 (or 1 read / 0 absent for loads) or -1 with err. */
void ha_history_free(ha_history *h);
void ha_history_add(ha_history *h, int64_t epoch, int64_t start);
int64_t ha_history_last(const ha_history *h);
bool ha_history_equal(const ha_history *a, const ha_history *b);
int ha_history_load(const char *root, ha_history *h, char *err, size_t errlen);
int ha_history_save(const char *root, const ha_history *h, char *err, size_t errlen);
/* Where a log with history l ending at lend must be cut to follow a master
 * with history m ending at mend: the start of the first epoch range l has
 * that m does not have the same, or mend if l is longer. lend: no cut. */
int64_t ha_diverge_point(const ha_history *l, int64_t lend, const ha_history *m, int64_t mend);
int ha_role_save(const char *root, int role, int64_t broker_id, const char *why, char *err, size_t errlen);
int ha_role_load(const char *root, int *role, int64_t *broker_id, char *why, size_t whycap, char *err,
                 size_t errlen);
int ha_role_parse(const char *s);
const char *ha_role_name(int role);
int ha_truncate_save(const char *root, int64_t offset, const char *why, char *err, size_t errlen);
int ha_truncate_load(const char *root, int64_t *offset, char *why, size_t whycap, char *err, size_t errlen);
/* Appends record to ha/truncations (fsynced) and removes ha/truncate. */
int ha_truncate_done(const char *root, const char *record, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
