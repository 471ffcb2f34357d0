// cluster.h - THE way integration tests start real processes: nameservers
// and brokers from MQ_BIN_DIR on free ports, each with its own log file and
// (for brokers) its own store under one temporary directory, plus running
// tools (mqadmin, mqbench) as processes with their output captured.
//
//   MqCluster c;                                     // temp dir, removed at the end
//   MqProcess &ns = c.add_namesrv();                 // listenPort=0: any free port
//   MqProcess &b = c.add_broker("broker-a", c.namesrv_list(),
//                               {"--registerNameServerPeriod=1000"});
//   ASSERT_TRUE(c.start_all());                      // waits for "listening on port N"
//   ToolResult r = c.mqadmin({"clusterList", "-n", c.namesrv_list()});
//   b.kill9(); b.restart();                          // same port, same store
//   ns.stop();                                       // SIGTERM, expects exit status 0
//   // at the end: whatever still runs is stopped with SIGTERM and must exit 0
//
// Ports: a process started with listenPort=0 picks a free port and logs
// "listening on port N"; start() reads N from the log, and later restarts
// pass --listenPort=N so clients and brokers find it again. Readiness is
// that log line, waited for with a deadline (never a fixed sleep).
// Children get PR_SET_PDEATHSIG so a crashed test leaves no process behind.
// When a test fails, the cluster prints every process's log (tail) on
// destruction, so the reason is in the test output.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"

struct ToolResult {
    int exit_code = -1; // exit status, or 128 + signal, or -1 if it could not run / timed out
    std::string out;
    std::string err;
};

namespace mqtest {

inline std::string read_file(const std::string &path, size_t from = 0) {
    std::ifstream f(path, std::ios::binary);
    if (!f)
        return "";
    f.seekg(0, std::ios::end);
    size_t size = (size_t)f.tellg();
    if (from >= size)
        return "";
    f.seekg((std::streamoff)from);
    std::string s(size - from, '\0');
    f.read(&s[0], (std::streamsize)s.size());
    return s;
}

inline size_t file_size(const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? (size_t)st.st_size : 0;
}

// Forks and execs program with args; stdout/stderr to the given files
// (append). Returns the pid, or -1.
inline pid_t spawn(const std::string &program, const std::vector<std::string> &args, const std::string &out_path,
                   const std::string &err_path) {
    std::vector<std::string> all{program};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (auto &a : all)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    // child: only async-signal-safe calls until exec
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fo = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int fe = out_path == err_path ? fo : open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fo < 0 || fe < 0)
        _exit(127);
    dup2(fo, 1);
    dup2(fe, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    execv(argv[0], argv.data());
    _exit(127);
}

// Waits for pid up to timeout_ms. Returns the exit code (128 + signal if
// killed), or -1 on timeout (the process is left running).
inline int wait_exit(pid_t pid, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0)
            return -1;
        if (std::chrono::steady_clock::now() >= deadline)
            return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

} // namespace mqtest

// One server process (mqnamesrv or mqbroker) that can be started, stopped,
// killed and restarted on the same port with the same arguments.
class MqProcess {
  public:
    MqProcess(std::string name, std::string program, std::vector<std::string> args, std::string log_path)
        : name_(std::move(name)), program_(std::move(program)), args_(std::move(args)), log_(std::move(log_path)) {}
    ~MqProcess() { kill9(); }
    MqProcess(const MqProcess &) = delete;
    MqProcess &operator=(const MqProcess &) = delete;

    // Starts the process and waits for its "listening on port N" line.
    // Returns false (with the reason in the test output) if it exits or
    // does not get ready in time.
    bool start(int timeout_ms = 15000) {
        if (running())
            return true;
        size_t from = mqtest::file_size(log_);
        pid_ = mqtest::spawn(program_, args_, log_, log_);
        if (pid_ < 0) {
            ADD_FAILURE() << name_ << ": cannot fork";
            return false;
        }
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (std::chrono::steady_clock::now() < deadline) {
            std::string text = mqtest::read_file(log_, from);
            size_t at = text.find("listening on port ");
            if (at != std::string::npos) {
                port_ = atoi(text.c_str() + at + strlen("listening on port "));
                set_flag("listenPort", std::to_string(port_)); // restarts reuse the port
                size_t ha = text.find("HA: accepting slaves on port "); // a master's haListenPort, likewise
                if (ha != std::string::npos) {
                    ha_port_ = atoi(text.c_str() + ha + strlen("HA: accepting slaves on port "));
                    set_flag("haListenPort", std::to_string(ha_port_));
                }
                return true;
            }
            int status;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                pid_ = -1;
                ADD_FAILURE() << name_ << " exited with status " << exit_ << " during start-up:\n" << text;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        ADD_FAILURE() << name_ << " not ready after " << timeout_ms << " ms";
        kill9();
        return false;
    }

    // SIGTERM and wait; true if it exited with status 0.
    bool stop(int timeout_ms = 15000) {
        if (pid_ <= 0)
            return true;
        ::kill(pid_, SIGTERM);
        if (paused_) // a paused process must run to handle it; a SIGCONT out of the blue
            resume(); // can upset LeakSanitizer's stop-the-world at exit, so only then
        exit_ = mqtest::wait_exit(pid_, timeout_ms);
        if (exit_ == -1) {
            ADD_FAILURE() << name_ << " did not stop within " << timeout_ms << " ms of SIGTERM";
            kill9();
            return false;
        }
        pid_ = -1;
        return exit_ == 0;
    }

    // SIGKILL and reap (a crash).
    void kill9() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        exit_ = mqtest::wait_exit(pid_, 10000);
        pid_ = -1;
        paused_ = false;
    }

    // SIGSTOP / SIGCONT: a broker that is alive but silent.
    void pause() {
        if (pid_ > 0 && !paused_) {
            ::kill(pid_, SIGSTOP);
            paused_ = true;
        }
    }
    void resume() {
        if (pid_ > 0 && paused_) {
            ::kill(pid_, SIGCONT);
            paused_ = false;
        }
    }

    bool restart(int timeout_ms = 15000) {
        if (running() && !stop(timeout_ms))
            return false;
        return start(timeout_ms);
    }

    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    int exit_status() const { return exit_; }
    int port() const { return port_; }
    int ha_port() const { return ha_port_; } // a master broker's HA port (0 if none)
    std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string &name() const { return name_; }
    const std::string &log_path() const { return log_; }
    std::string log() const { return mqtest::read_file(log_); }

    // Waits until the log contains needle (anywhere). Returns whether it did.
    bool wait_log(const std::string &needle, int timeout_ms = 5000) const {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        do {
            if (log().find(needle) != std::string::npos)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        } while (std::chrono::steady_clock::now() < deadline);
        return false;
    }

    // Sets --key=value for the next start (replacing an earlier one).
    void set_flag(const std::string &key, const std::string &value) {
        std::string prefix = "--" + key + "=";
        for (auto &a : args_)
            if (a.compare(0, prefix.size(), prefix) == 0) {
                a = prefix + value;
                return;
            }
        args_.push_back(prefix + value);
    }

  private:
    std::string name_, program_;
    std::vector<std::string> args_;
    std::string log_;
    pid_t pid_ = -1;
    bool paused_ = false;
    int port_ = 0;
    int ha_port_ = 0;
    int exit_ = -1;
};

// A set of processes sharing one temporary directory.
class MqCluster {
  public:
    explicit MqCluster(const char *tag = "mqcluster") : dir_(tag) { mkdir(dir_.sub("logs").c_str(), 0755); }
    // Stops what still runs with SIGTERM, brokers before nameservers, and
    // expects each to exit 0: every test also checks clean shutdown (and,
    // under ASan, no leaks). After a failure, processes are just killed.
    ~MqCluster() {
        if (!::testing::Test::HasFailure()) {
            for (auto &p : procs_) {
                if (p->running() && !is_namesrv(p.get())) {
                    EXPECT_TRUE(p->stop()) << p->name() << " exited with status " << p->exit_status();
                }
            }
            for (auto *ns : namesrvs_) {
                if (ns->running()) {
                    EXPECT_TRUE(ns->stop()) << ns->name() << " exited with status " << ns->exit_status();
                }
            }
        }
        for (auto &p : procs_)
            p->kill9();
        if (::testing::Test::HasFailure())
            print_logs();
    }

    static std::string bin(const std::string &program) { return std::string(MQ_BIN_DIR) + "/" + program; }
    const std::string &dir() const { return dir_.path(); }

    // A nameserver on a free port; extra flags like "--brokerChannelExpiredTime=2000".
    MqProcess &add_namesrv(std::vector<std::string> extra = {}) {
        std::string name = "namesrv" + std::to_string(++n_namesrv_);
        std::vector<std::string> args{"--listenPort=0"};
        args.insert(args.end(), extra.begin(), extra.end());
        procs_.push_back(std::make_unique<MqProcess>(name, bin("mqnamesrv"), args, dir_.sub("logs/" + name + ".log")));
        namesrvs_.push_back(procs_.back().get());
        return *procs_.back();
    }

    // A broker named broker_name registering with namesrv_list, on a free
    // port, announcing 127.0.0.1, storing under <dir>/<broker_name>-<id>.
    MqProcess &add_broker(const std::string &broker_name, const std::string &namesrv_list,
                          std::vector<std::string> extra = {}, int broker_id = 0) {
        std::string name = broker_name + "-" + std::to_string(broker_id);
        std::vector<std::string> args{"--listenPort=0", "--brokerIP1=127.0.0.1",
                                      "--brokerName=" + broker_name, "--brokerId=" + std::to_string(broker_id),
                                      "--storePathRootDir=" + dir_.sub(name + "-store"), "-n", namesrv_list};
        args.insert(args.end(), extra.begin(), extra.end());
        procs_.push_back(std::make_unique<MqProcess>(name, bin("mqbroker"), args, dir_.sub("logs/" + name + ".log")));
        return *procs_.back();
    }

    // A slave (brokerRole=SLAVE, brokerId >= 1) of the broker group
    // broker_name: it finds its master's HA port through the nameserver.
    // haListenPort=0: if it is promoted (failover) it listens on any free
    // HA port, not listenPort + 1, which another process may hold.
    MqProcess &add_slave(const std::string &broker_name, const std::string &namesrv_list,
                         std::vector<std::string> extra = {}, int broker_id = 1) {
        extra.insert(extra.begin(), {"--brokerRole=SLAVE", "--haListenPort=0"});
        return add_broker(broker_name, namesrv_list, extra, broker_id);
    }

    // Starts every process not running yet, nameservers first.
    bool start_all(int timeout_ms = 15000) {
        for (auto *ns : namesrvs_)
            if (!ns->running() && !ns->start(timeout_ms))
                return false;
        for (auto &p : procs_)
            if (!p->running() && !p->start(timeout_ms))
                return false;
        return true;
    }

    // "a:port;b:port" of the nameservers added so far. Nameservers must be
    // started before this is used (their ports are known then).
    std::string namesrv_list() const {
        std::string s;
        for (auto *ns : namesrvs_)
            s += (s.empty() ? "" : ";") + ns->addr();
        return s;
    }

    // Runs a program from MQ_BIN_DIR to completion, capturing its output.
    ToolResult run(const std::string &program, const std::vector<std::string> &args, int timeout_ms = 20000) {
        int n = ++n_runs_;
        std::string out = dir_.sub("logs/run" + std::to_string(n) + ".out");
        std::string err = dir_.sub("logs/run" + std::to_string(n) + ".err");
        ToolResult r;
        pid_t pid = mqtest::spawn(bin(program), args, out, err);
        if (pid < 0)
            return r;
        r.exit_code = mqtest::wait_exit(pid, timeout_ms);
        if (r.exit_code == -1) {
            ::kill(pid, SIGKILL);
            mqtest::wait_exit(pid, 5000);
            ADD_FAILURE() << program << " did not finish within " << timeout_ms << " ms";
        }
        r.out = mqtest::read_file(out);
        r.err = mqtest::read_file(err);
        return r;
    }

    ToolResult mqadmin(const std::vector<std::string> &args, int timeout_ms = 20000) {
        return run("mqadmin", args, timeout_ms);
    }

    // Prints the last part of every process's log to stderr.
    void print_logs(size_t max_bytes = 16384) const {
        for (auto &p : procs_) {
            std::string text = p->log();
            if (text.size() > max_bytes)
                text = "...\n" + text.substr(text.size() - max_bytes);
            fprintf(stderr, "----- log of %s (%s) -----\n%s\n", p->name().c_str(), p->log_path().c_str(),
                    text.c_str());
        }
    }

  private:
    bool is_namesrv(const MqProcess *p) const {
        for (auto *ns : namesrvs_)
            if (ns == p)
                return true;
        return false;
    }

    TempDir dir_;
    std::vector<std::unique_ptr<MqProcess>> procs_;
    std::vector<MqProcess *> namesrvs_;
    int n_namesrv_ = 0;
    int n_runs_ = 0;
};

// A fixture with one nameserver and one broker ("broker-a", 1 MiB CommitLog
// segments so tests cross segment boundaries), started by start(flags).
class OneBrokerTest : public ::testing::Test {
  protected:
    explicit OneBrokerTest(const char *tag) : c(tag) {}
    MqCluster c;
    MqProcess *ns = nullptr, *broker = nullptr;
    void start(std::vector<std::string> flags = {}) {
        ns = &c.add_namesrv();
        ASSERT_TRUE(ns->start());
        flags.push_back("--mapedFileSizeCommitLog=1048576");
        broker = &c.add_broker("broker-a", c.namesrv_list(), flags);
        ASSERT_TRUE(broker->start());
    }
    // start(), then waits for the broker's registration and creates topic
    // with `queues` read and write queues.
    void start_with_topic(const char *topic, int queues) {
        start();
        ASSERT_TRUE(broker->wait_log("registered with nameserver", 10000));
        ToolResult r = c.mqadmin({"updateTopic", "-n", c.namesrv_list(), "-b", broker->addr(), "-t", topic, "-r",
                                  std::to_string(queues), "-w", std::to_string(queues)});
        ASSERT_EQ(0, r.exit_code) << r.out << r.err;
    }
};

