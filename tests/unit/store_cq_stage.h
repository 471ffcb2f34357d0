/* store_cq_stage.h - the C scenarios of store_cq_stage.c, for the C++ test. */
#ifndef MQ_TEST_STORE_CQ_STAGE_H
#define MQ_TEST_STORE_CQ_STAGE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Each takes an empty directory; NULL = it holds, else what failed. */
const char *cq_stage_publishes_only_when_written(const char *dir);
const char *cq_stage_map_and_pwrite_write_the_same_bytes(const char *dir);
const char *cq_stage_full_or_file_end_writes_first(const char *dir);
const char *cq_stage_gap_is_blank_filled_after_the_stage(const char *dir);

#ifdef __cplusplus
}
#endif

#endif
