// config_test.cc - the one config parser: defaults, files, command-line
// overrides, unknown keys and bad values named in the error.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "config.h"
}

namespace {

struct conf {
    int32_t port;
    int64_t big;
    bool flag;
    char name[16];
    int mode;
    double ratio;
};

const char *const modes[] = {"ASYNC_FLUSH", "SYNC_FLUSH", nullptr};

const cfg_option opts[] = {
    CFG_INT(conf, port, "listenPort", "10911", 0, 65535, "port"),
    CFG_INT64(conf, big, "mapedFileSizeCommitLog", "1073741824", 4096, (int64_t)1 << 40, "size"),
    CFG_BOOL(conf, flag, "autoCreateTopicEnable", "true", "flag"),
    CFG_STRING(conf, name, "brokerName", "broker-a", "name"),
    CFG_ENUM(conf, mode, "flushDiskType", "ASYNC_FLUSH", modes, "mode"),
    CFG_DOUBLE(conf, ratio, "ratio", "0.5", "ratio"),
    CFG_END,
};

const cfg_flag flags[] = {{'n', "brokerName"}, {0, nullptr}};

std::string write_file(const std::string &text) {
    char path[] = "/tmp/mq_config_test_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text.c_str(), f);
    fclose(f);
    return path;
}

int parse(std::vector<std::string> args, conf *c, std::string *err) {
    std::vector<char *> argv;
    args.insert(args.begin(), "prog");
    for (auto &a : args)
        argv.push_back(a.data());
    cfg_cli cli = {"prog", "test program", opts, flags};
    char e[512] = "";
    int rc = cfg_cli_parse(&cli, c, (int)argv.size(), argv.data(), e, sizeof e);
    *err = e;
    return rc;
}

TEST(ConfigTest, DefaultsApplyWithNoInput) {
    conf c;
    std::string err;
    ASSERT_EQ(CFG_CLI_RUN, parse({}, &c, &err)) << err;
    EXPECT_EQ(10911, c.port);
    EXPECT_EQ(1073741824, c.big);
    EXPECT_TRUE(c.flag);
    EXPECT_STREQ("broker-a", c.name);
    EXPECT_EQ(0, c.mode);
    EXPECT_DOUBLE_EQ(0.5, c.ratio);
}

TEST(ConfigTest, FileThenCommandLineOverride) {
    std::string path = write_file("# comment\n! also a comment\n\n listenPort = 10000 \n"
                                  "flushDiskType=sync_flush\nbrokerName=from-file\nautoCreateTopicEnable=false\n");
    conf c;
    std::string err;
    // Flags before -c still win over the file.
    ASSERT_EQ(CFG_CLI_RUN, parse({"-n", "from-flag", "-c", path, "--listenPort=20000"}, &c, &err)) << err;
    EXPECT_EQ(20000, c.port);
    EXPECT_STREQ("from-flag", c.name);
    EXPECT_EQ(1, c.mode);
    EXPECT_FALSE(c.flag);
    ASSERT_EQ(CFG_CLI_RUN, parse({"-c", path, "--mapedFileSizeCommitLog", "65536"}, &c, &err)) << err;
    EXPECT_EQ(10000, c.port);
    EXPECT_EQ(65536, c.big);
    remove(path.c_str());
}

TEST(ConfigTest, UnknownKeyInFileNamesKeyAndLine) {
    std::string path = write_file("listenPort=1\nbrokerNmae=typo\n");
    conf c;
    std::string err;
    EXPECT_EQ(CFG_CLI_ERROR, parse({"-c", path}, &c, &err));
    EXPECT_NE(std::string::npos, err.find("brokerNmae")) << err;
    EXPECT_NE(std::string::npos, err.find(":2:")) << err;
    remove(path.c_str());
}

TEST(ConfigTest, BadValuesAreNamed) {
    conf c;
    std::string err;
    for (auto bad : std::vector<std::vector<std::string>>{
             {"--listenPort=70000"}, {"--listenPort=12ab"}, {"--listenPort="}, {"--autoCreateTopicEnable=maybe"},
             {"--flushDiskType=SOMETIMES"}, {"--brokerName=this-name-is-far-too-long"},
             {"--mapedFileSizeCommitLog=100"}, {"--ratio=abc"}}) {
        EXPECT_EQ(CFG_CLI_ERROR, parse(bad, &c, &err)) << bad[0];
        std::string key = bad[0].substr(2, bad[0].find('=') - 2);
        EXPECT_NE(std::string::npos, err.find(key)) << err;
        EXPECT_NE(std::string::npos, err.find("bad value")) << err;
    }
    EXPECT_EQ(CFG_CLI_ERROR, parse({"--noSuchKey=1"}, &c, &err));
    EXPECT_NE(std::string::npos, err.find("noSuchKey")) << err;
    EXPECT_EQ(CFG_CLI_ERROR, parse({"-x", "1"}, &c, &err));
    EXPECT_EQ(CFG_CLI_ERROR, parse({"-c"}, &c, &err));
    EXPECT_EQ(CFG_CLI_ERROR, parse({"-c", "/nonexistent/file.conf"}, &c, &err));
    EXPECT_NE(std::string::npos, err.find("/nonexistent/file.conf")) << err;
    EXPECT_EQ(CFG_CLI_ERROR, parse({"stray"}, &c, &err));
}

// A command-line string value reads as the same value in a file would
// (found by tests/fuzz/fuzz_config: `-p` printed "brokerName=x " which
// loads back as "x"), and a line break, which no file line can hold, is
// refused.
TEST(ConfigTest, CommandLineStringsReadLikeFileLines) {
    conf c;
    std::string err;
    ASSERT_EQ(CFG_CLI_RUN, parse({"--brokerName=  padded \t"}, &c, &err)) << err;
    EXPECT_STREQ("padded", c.name);
    EXPECT_EQ(CFG_CLI_ERROR, parse({"-n", "two\nlines"}, &c, &err));
    EXPECT_NE(std::string::npos, err.find("brokerName")) << err;
    EXPECT_EQ(CFG_CLI_ERROR, parse({"-n", "a\rb"}, &c, &err));
}

TEST(ConfigTest, MalformedLineIsAnError) {
    std::string path = write_file("listenPort 1\n");
    conf c;
    std::string err;
    EXPECT_EQ(CFG_CLI_ERROR, parse({"-c", path}, &c, &err));
    EXPECT_NE(std::string::npos, err.find("key=value")) << err;
    remove(path.c_str());
}

TEST(ConfigTest, PrintShowsEffectiveValues) {
    conf c;
    char err[256];
    ASSERT_EQ(0, cfg_defaults(opts, &c, err, sizeof err));
    ASSERT_EQ(0, cfg_set(opts, &c, "listenPort", "1234", err, sizeof err));
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_print(opts, &c, f);
    fclose(f);
    std::string out(buf, len);
    free(buf);
    EXPECT_NE(std::string::npos, out.find("listenPort=1234\n"));
    EXPECT_NE(std::string::npos, out.find("flushDiskType=ASYNC_FLUSH\n"));
    EXPECT_NE(std::string::npos, out.find("autoCreateTopicEnable=true\n"));
}

} // namespace
