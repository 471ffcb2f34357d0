// Reliability at the edges (issue 15).
//
// Full disk, for real: the broker's store lives on a small tmpfs the test
// mounts (skipped when mounting is not permitted). A filler file brings the
// file system near the watermark, producers then fill it up to
// diskSpaceWarningLevelRatio; the test checks that sends are refused with
// SERVICE_NOT_AVAILABLE before the disk is actually full, that no
// acknowledged message is lost (nor any segment deleted: forced cleaning is
// off by default), that the broker restarts cleanly (SIGTERM and kill -9) on
// the full disk and refuses to start with a clear message when there is no
// room at all, that writes resume by themselves once the filler is
// removed, and that the log stays short.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "addr.h"
#include "cluster.h"
#include "reliability_util.h"
#include "wait.h"

using namespace reltest;

namespace {

const int RS_SERVICE_NOT_AVAILABLE = 14;

double used_percent(const std::string &path) {
    struct statvfs v;
    if (statvfs(path.c_str(), &v) != 0 || v.f_blocks == 0)
        return -1;
    return 100.0 * (double)(v.f_blocks - v.f_bfree) / (double)v.f_blocks;
}

// Grows path by bytes of real data (tmpfs has no holes to cheat with).
bool grow_file(const std::string &path, int64_t bytes) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return false;
    std::vector<char> buf(1 << 20, 'f');
    while (bytes > 0) {
        ssize_t w = write(fd, buf.data(), (size_t)std::min<int64_t>(bytes, (int64_t)buf.size()));
        if (w <= 0)
            break;
        bytes -= w;
    }
    close(fd);
    return bytes <= 0;
}

int count_lines(const std::string &text, const std::string &needle) {
    int n = 0;
    for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1))
        n++;
    return n;
}

// A tmpfs of size_mb at a fresh directory, unmounted at the end.
class SmallFs {
  public:
    explicit SmallFs(int size_mb) : dir_("mqdiskfull") {
        std::string opt = "size=" + std::to_string(size_mb) + "m";
        if (mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, opt.c_str()) == 0)
            mounted_ = true;
        else
            why_ = strerror(errno);
    }
    ~SmallFs() {
        if (mounted_ && umount2(dir_.path().c_str(), MNT_DETACH) != 0)
            ADD_FAILURE() << "umount " << dir_.path() << ": " << strerror(errno);
    }
    bool mounted() const { return mounted_; }
    const std::string &why() const { return why_; }
    const std::string &path() const { return dir_.path(); }

  private:
    TempDir dir_;
    bool mounted_ = false;
    std::string why_;
};

} // namespace

TEST(DiskFull, RefusedAtWatermarkNothingLostRestartsAndResumes) {
    SmallFs fs(64);
    if (!fs.mounted())
        GTEST_SKIP() << "cannot mount a tmpfs for the full-disk test (" << fs.why()
                     << "; needs root or CAP_SYS_ADMIN): skipped, not run";
    MqCluster c("diskfull");
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(ns.start());
    std::string store = fs.path() + "/store";
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"--storePathRootDir=" + store, "--mapedFileSizeCommitLog=1048576",
                                 "--mapedFileSizeConsumeQueue=60000", "--flushDiskType=SYNC_FLUSH",
                                 "--registerNameServerPeriod=1000"});
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", b.addr(), "-t", "DiskFullT", "-r", "4",
                              "-w", "4"});
    ASSERT_EQ(0, r.exit_code) << r.err;

    // Filler up to 80 %: the messages do the rest, up to the 90 % watermark.
    struct statvfs v;
    ASSERT_EQ(0, statvfs(fs.path().c_str(), &v));
    double total = (double)v.f_blocks * v.f_frsize;
    double used = used_percent(fs.path());
    ASSERT_LT(used, 60) << "a fresh store should use little of the file system";
    std::string filler = fs.path() + "/filler";
    ASSERT_TRUE(grow_file(filler, (int64_t)(total * (80 - used) / 100)));

    std::vector<std::string> acked;
    {
        Senders s(c.namesrv_list(), "DiskFullT", "full", 3, 4096);
        ASSERT_TRUE(wait_for([&] { return s.failures()[RS_SERVICE_NOT_AVAILABLE] >= 30; }, 60000))
            << "acked " << s.acked_count() << ", failures " << s.failed_count() << ", last error "
            << s.last_error() << ", disk use " << used_percent(fs.path()) << "%";
        s.stop();
        acked = s.acked();
        EXPECT_NE(std::string::npos, s.last_error().find("disk full")) << s.last_error();
        std::map<int, int64_t> f = s.failures();
        EXPECT_EQ(f[RS_SERVICE_NOT_AVAILABLE], s.failed_count()) << "only SERVICE_NOT_AVAILABLE";
    }
    double at_refusal = used_percent(fs.path());
    EXPECT_GE(at_refusal, 89.0);
    EXPECT_LT(at_refusal, 99.0) << "refused before the disk is actually full";
    ASSERT_GT(acked.size(), 500u);

    std::string log = b.log();
    EXPECT_EQ(0, count_lines(log, "deleted UNEXPIRED")) << "forced cleaning is off by default";
    EXPECT_EQ(1, count_lines(log, "refusing writes")) << log;
    EXPECT_EQ(0, count_lines(log, "cannot create")) << "the watermark keeps the disk from ENOSPC";

    // Restarts on the full disk, clean stop and crash alike, and still refuses.
    ASSERT_TRUE(b.stop()) << "clean stop on a full disk, exit " << b.exit_status();
    ASSERT_TRUE(b.start());
    b.kill9();
    // No room at all (something else filled the disk): a clear refusal to
    // start, not a crash inside RocksDB; it starts once there is room.
    std::string filler2 = fs.path() + "/filler2";
    grow_file(filler2, INT64_MAX / 2); // until ENOSPC
    ToolResult full = c.run("mqbroker", {"--listenPort=0", "--storePathRootDir=" + store, "-n", c.namesrv_list()});
    EXPECT_EQ(1, full.exit_code) << full.out << full.err;
    EXPECT_NE(std::string::npos, full.err.find("disk full: 0 KiB free")) << full.out << full.err;
    ASSERT_EQ(0, unlink(filler2.c_str()));
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));

    {
        // RocksDB's preallocated logs make the use move a little around a
        // restart: a few sends may still fit below the watermark.
        Senders s(c.namesrv_list(), "DiskFullT", "still", 1, 4096);
        ASSERT_TRUE(wait_for([&] { return s.failed_count() >= 3; }, 20000)) << s.last_error();
        s.stop();
        EXPECT_EQ(s.failures()[RS_SERVICE_NOT_AVAILABLE], s.failed_count()) << s.last_error();
        EXPECT_LT(used_percent(fs.path()), 99.0);
        std::vector<std::string> a = s.acked();
        acked.insert(acked.end(), a.begin(), a.end());
    }
    EXPECT_EQ(0, count_lines(b.log(), "cannot create")) << "the watermark keeps the disk from ENOSPC";

    // Nothing acknowledged is lost (and nothing is there twice).
    Verdict before = compare(acked, drain(c.namesrv_list(), "rel_full_g1", "DiskFullT"));
    EXPECT_EQ(0, before.missing) << "first missing " << before.first_missing;
    EXPECT_EQ(0, before.duplicated);

    // Space back: writes resume without a restart (the disk is read every second).
    ASSERT_EQ(0, unlink(filler.c_str()));
    std::vector<std::string> after;
    {
        Senders s(c.namesrv_list(), "DiskFullT", "after", 2, 4096);
        ASSERT_TRUE(wait_for([&] { return s.acked_after_failure() >= 200; }, 20000))
            << "acked " << s.acked_count() << ", last error " << s.last_error();
        s.stop();
        after = s.acked();
    }
    EXPECT_TRUE(b.wait_log("accepting writes again", 5000));
    acked.insert(acked.end(), after.begin(), after.end());
    Verdict all = compare(acked, drain(c.namesrv_list(), "rel_full_g2", "DiskFullT"));
    EXPECT_EQ(0, all.missing) << "first missing " << all.first_missing;
    EXPECT_EQ(0, all.duplicated);
    EXPECT_LT(count_lines(b.log(), "\n"), 200) << "the log stays short";
    printf("DISKFULL fs=64MiB watermark=90%% refused_at=%.1f%% acked=%zu missing=%lld duplicated=%lld "
           "log_lines=%d\n",
           at_refusal, acked.size(), (long long)all.missing, (long long)all.duplicated,
           count_lines(b.log(), "\n"));
    ASSERT_TRUE(b.stop());
    ASSERT_TRUE(ns.stop());
}

// Forced cleaning, when the operator enables it: one segment per round,
// oldest first, never the current one, each deletion logged with the queue
// offsets it took and the unconsumed messages it cost each group.
TEST(DiskFull, ForcedCleanWhenEnabledLogsWhatEachGroupLost) {
    SmallFs fs(64);
    if (!fs.mounted())
        GTEST_SKIP() << "cannot mount a tmpfs for the full-disk test (" << fs.why()
                     << "; needs root or CAP_SYS_ADMIN): skipped, not run";
    MqCluster c("forcedclean");
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(ns.start());
    MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
                                {"--storePathRootDir=" + fs.path() + "/store", "--mapedFileSizeCommitLog=1048576",
                                 "--mapedFileSizeConsumeQueue=60000", "--cleanFileForciblyEnable=true",
                                 "--diskMaxUsedSpaceRatio=50", "--diskSpaceCleanForciblyRatio=50",
                                 "--cleanResourceInterval=500"});
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", b.addr(), "-t", "ForcedT", "-r", "1",
                              "-w", "1"});
    ASSERT_EQ(0, r.exit_code) << r.err;
    std::vector<std::string> acked;
    {
        Senders s(c.namesrv_list(), "ForcedT", "forced", 1, 4096);
        ASSERT_TRUE(wait_for([&] { return s.acked_count() >= 700; }, 30000)) << s.last_error();
        s.stop();
        acked = s.acked();
    }
    // g1 consumed 100 messages, g2 none.
    mq_pull_consumer *pc = nullptr;
    mq_error err{};
    mq_message_queue q{};
    snprintf(q.topic, sizeof q.topic, "ForcedT");
    snprintf(q.broker_name, sizeof q.broker_name, "broker-a");
    for (auto [group, off] : {std::pair<const char *, int64_t>{"rel_g1", 100}, {"rel_g2", 0}}) {
        ASSERT_EQ(MQ_OK, mq_pull_consumer_new(group, c.namesrv_list().c_str(), nullptr, &pc, &err));
        ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err)) << err.message;
        ASSERT_EQ(MQ_OK, mq_pull_consumer_commit_offset(pc, &q, off, &err)) << err.message;
        mq_pull_consumer_destroy(pc);
    }
    struct statvfs v;
    ASSERT_EQ(0, statvfs(fs.path().c_str(), &v));
    double total = (double)v.f_blocks * v.f_frsize;
    ASSERT_TRUE(grow_file(fs.path() + "/filler", (int64_t)(total * (60 - used_percent(fs.path())) / 100)));

    ASSERT_TRUE(b.wait_log("cost group rel_g2", 10000));
    std::string log = b.log();
    // The first deletion took queue offsets [0, n) of ForcedT/0.
    size_t at = log.find("ForcedT/0: queue offsets [0, ");
    ASSERT_NE(std::string::npos, at) << log;
    long long n = atoll(log.c_str() + at + strlen("ForcedT/0: queue offsets [0, "));
    ASSERT_GT(n, 100);
    EXPECT_NE(std::string::npos, log.find("00000000000000000000 cost group rel_g1 " + std::to_string(n - 100) +
                                          " unconsumed messages")) << log;
    EXPECT_NE(std::string::npos, log.find("00000000000000000000 cost group rel_g2 " + std::to_string(n) +
                                          " unconsumed messages")) << log;
    // Every segment below the current one (the newest message's) goes, one
    // per round; the current one stays, however long the disk stays above
    // the ratio.
    int64_t newest = -1;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_new("rel_g4", c.namesrv_list().c_str(), nullptr, &pc, &err));
    ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err)) << err.message;
    int64_t max = 0;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_max_offset(pc, &q, &max, &err)) << err.message;
    mq_pull_result pr;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_pull(pc, &q, "*", max - 1, 1, 0, &pr, &err)) << err.message;
    ASSERT_EQ(1, pr.n);
    newest = mq_message_ext_commit_log_offset(pr.msgs[0]);
    mq_pull_result_destroy(&pr);
    mq_pull_consumer_destroy(pc);
    int older = (int)(newest / 1048576);
    ASSERT_GE(older, 2);
    ASSERT_TRUE(wait_for([&] { return count_lines(b.log(), "deleted UNEXPIRED") >= older; }, 10000));
    EXPECT_FALSE(wait_for([&] { return count_lines(b.log(), "deleted UNEXPIRED") > older; }, 2000));
    std::map<std::string, int> seen = drain(c.namesrv_list(), "rel_g3", "ForcedT");
    EXPECT_EQ(1, seen[acked.back()]) << "the current segment keeps the newest messages";
    // What is left is the whole current segment: every queue offset from the
    // new minimum to the end (how many depends on where the last roll fell).
    int64_t min = -1;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_new("rel_g5", c.namesrv_list().c_str(), nullptr, &pc, &err));
    ASSERT_EQ(MQ_OK, mq_pull_consumer_start(pc, &err)) << err.message;
    ASSERT_EQ(MQ_OK, mq_pull_consumer_min_offset(pc, &q, &min, &err)) << err.message;
    mq_pull_consumer_destroy(pc);
    EXPECT_EQ((int64_t)seen.size(), max - min);
    EXPECT_LT(seen.size(), acked.size());
    ASSERT_TRUE(b.stop());
    ASSERT_TRUE(ns.stop());
}

// A single-node system stays on the loopback interface: a broker whose
// nameservers are all loopback advertises 127.0.0.1 unless brokerIP1 says
// otherwise; with a nameserver on another interface it keeps advertising the
// first non-loopback address.
TEST(SingleNode, LoopbackNameserversMeanALoopbackAddress) {
    MqCluster c("loopback");
    MqProcess &ns = c.add_namesrv();
    ASSERT_TRUE(ns.start());
    std::string port = std::to_string(ns.port());

    MqProcess &a = c.add_broker("broker-a", "localhost:" + port);
    a.set_flag("brokerIP1", ""); // the default
    ASSERT_TRUE(a.start());
    ASSERT_TRUE(a.wait_log("registered with nameserver", 10000));
    EXPECT_NE(std::string::npos, a.log().find(" as 127.0.0.1:" + std::to_string(a.port()))) << a.log();

    MqProcess &b = c.add_broker("broker-b", "127.0.0.1:" + port);
    b.set_flag("brokerIP1", "127.0.0.2"); // an explicit brokerIP1 wins
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(b.wait_log("registered with nameserver", 10000));
    EXPECT_NE(std::string::npos, b.log().find(" as 127.0.0.2:" + std::to_string(b.port()))) << b.log();

    char ip[64];
    addr_local_ip(ip, sizeof ip);
    if (std::string(ip).rfind("127.", 0) == 0)
        return; // no other interface here: the remaining case cannot be shown
    MqProcess &d = c.add_broker("broker-d", std::string(ip) + ":" + port);
    d.set_flag("brokerIP1", "");
    ASSERT_TRUE(d.start());
    ASSERT_TRUE(d.wait_log("registered with nameserver", 10000));
    EXPECT_NE(std::string::npos, d.log().find(" as " + std::string(ip) + ":" + std::to_string(d.port()))) << d.log();
}
