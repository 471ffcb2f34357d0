// The ConsumeQueue stage, driven directly: entries appended at a queue's end
// wait in the stage until cq_write_staged publishes them (one pwrite, or a
// copy through the mapping in large rounds); a full stage, a file's end or
// an entry out of sequence writes the stage first. The scenarios are C
// (store_cq_stage.c): consumequeue.h cannot be included from C++.
#include "store_test_util.h"

#include "store_cq_stage.h"

using namespace storetest;

namespace {

void expect_holds(const char *(*scenario)(const char *dir))
{
    TempDir d;
    const char *why = scenario(d.sub("cq").c_str());
    EXPECT_EQ(why, nullptr) << why;
}

} // namespace

TEST(StoreCqStage, StagedEntriesArePublishedOnlyWhenWritten) { expect_holds(cq_stage_publishes_only_when_written); }

TEST(StoreCqStage, ThroughTheMappingAndByPwriteTheFileIsTheSame)
{
    expect_holds(cq_stage_map_and_pwrite_write_the_same_bytes);
}

TEST(StoreCqStage, AFullStageOrAFilesEndWritesTheStageFirst) { expect_holds(cq_stage_full_or_file_end_writes_first); }

TEST(StoreCqStage, AGapIsBlankFilledAfterTheStageIsWritten)
{
    expect_holds(cq_stage_gap_is_blank_filled_after_the_stage);
}
