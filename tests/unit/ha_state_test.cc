// ha_state_test.cc - the failover state of a broker (broker/ha/ha_state.c):
// where a log must be cut to follow a master (ha_diverge_point), and the
// files under <store>/ha/ (epoch history, role, pending cut, record).

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.h"

extern "C" {
#include "ha/ha_state.h"
#include "log.h"
}

namespace {

std::string slurp(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct Hist {
    ha_history h{};
    Hist(std::vector<std::pair<int64_t, int64_t>> e) {
        for (auto &x : e)
            ha_history_add(&h, x.first, x.second);
    }
    ~Hist() { ha_history_free(&h); }
};

TEST(HaState, DivergePoint) {
    Hist m1({{1, 0}}), m12({{1, 0}, {2, 1000}}), none({});
    // Same history: the shorter log needs no cut; a longer one is cut to the master's end.
    EXPECT_EQ(500, ha_diverge_point(&m1.h, 500, &m1.h, 800));
    EXPECT_EQ(800, ha_diverge_point(&m1.h, 900, &m1.h, 800));
    // An old master (epoch 1 up to 1500) following the promoted slave (epoch 2 from 1000): cut at 1000.
    EXPECT_EQ(1000, ha_diverge_point(&m1.h, 1500, &m12.h, 3000));
    // It had not written past the promotion point: nothing to cut.
    EXPECT_EQ(900, ha_diverge_point(&m1.h, 900, &m12.h, 3000));
    EXPECT_EQ(1000, ha_diverge_point(&m1.h, 1000, &m12.h, 3000));
    // A log with an epoch the master never had is cut where that epoch starts.
    Hist l13({{1, 0}, {3, 700}});
    EXPECT_EQ(700, ha_diverge_point(&l13.h, 2000, &m12.h, 3000));
    // No local history (a new slave, an older store): offsets only.
    EXPECT_EQ(0, ha_diverge_point(&none.h, 0, &m12.h, 3000));
    EXPECT_EQ(2500, ha_diverge_point(&none.h, 2500, &m12.h, 3000));
    EXPECT_EQ(3000, ha_diverge_point(&none.h, 3500, &m12.h, 3000));
    // A master without history (older version): offsets only.
    EXPECT_EQ(800, ha_diverge_point(&l13.h, 900, &none.h, 800));
    // A slave that took the master's history ahead of its own bytes.
    EXPECT_EQ(600, ha_diverge_point(&m12.h, 600, &m12.h, 3000));
}

TEST(HaState, FilesRoundTripAndRejectBadContent) {
    log_set_level(LOG_ERROR);
    TempDir d("ha_state_test");
    std::string root = d.path();
    char err[300];
    ha_history h{};
    EXPECT_EQ(0, ha_history_load(root.c_str(), &h, err, sizeof err)); // absent
    Hist w({{1, 0}, {2, 4096}, {5, 8192}});
    ASSERT_EQ(0, ha_history_save(root.c_str(), &w.h, err, sizeof err)) << err;
    ASSERT_EQ(1, ha_history_load(root.c_str(), &h, err, sizeof err)) << err;
    EXPECT_TRUE(ha_history_equal(&h, &w.h));
    EXPECT_EQ(5, ha_history_last(&h));
    ha_history_free(&h);

    int role;
    int64_t id;
    char why[200];
    EXPECT_EQ(0, ha_role_load(root.c_str(), &role, &id, why, sizeof why, err, sizeof err));
    ASSERT_EQ(0, ha_role_save(root.c_str(), ROLE_SLAVE, 2, "fenced by test", err, sizeof err)) << err;
    ASSERT_EQ(1, ha_role_load(root.c_str(), &role, &id, why, sizeof why, err, sizeof err)) << err;
    EXPECT_EQ(ROLE_SLAVE, role);
    EXPECT_EQ(2, id);
    EXPECT_STREQ("fenced by test", why);

    int64_t off;
    ASSERT_EQ(0, ha_truncate_save(root.c_str(), 12345, "ahead", err, sizeof err)) << err;
    ASSERT_EQ(1, ha_truncate_load(root.c_str(), &off, why, sizeof why, err, sizeof err)) << err;
    EXPECT_EQ(12345, off);
    ASSERT_EQ(0, ha_truncate_done(root.c_str(), "cut CommitLog [12345, 20000)", err, sizeof err)) << err;
    EXPECT_EQ(0, ha_truncate_load(root.c_str(), &off, why, sizeof why, err, sizeof err)); // cleared
    std::string rec = slurp(root + "/ha/truncations");
    EXPECT_NE(std::string::npos, rec.find("cut CommitLog [12345, 20000)")) << rec;

    // Bad content is an error, not a guess.
    FILE *f = fopen((root + "/ha/epoch").c_str(), "w");
    fputs("2 100\n1 200\n", f);
    fclose(f);
    EXPECT_EQ(-1, ha_history_load(root.c_str(), &h, err, sizeof err));
    EXPECT_NE(nullptr, strstr(err, "bad line"));
    f = fopen((root + "/ha/role").c_str(), "w");
    fputs("brokerRole=SLAVE\nbrokerId=0\n", f);
    fclose(f);
    EXPECT_EQ(-1, ha_role_load(root.c_str(), &role, &id, why, sizeof why, err, sizeof err));
}

} // namespace
