// temp_dir.h - a temporary directory for a test, removed with everything in
// it when the object goes away.
#pragma once

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

class TempDir {
  public:
    explicit TempDir(const char *tag = "mqtest") {
        const char *base = getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + tag + "-XXXXXX";
        char *p = mkdtemp(&tmpl[0]);
        path_ = p ? p : "";
    }
    ~TempDir() {
        if (!path_.empty())
            nftw(path_.c_str(), [](const char *f, const struct stat *, int, struct FTW *) { return remove(f); }, 16,
                 FTW_DEPTH | FTW_PHYS);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::string &path() const { return path_; }
    std::string sub(const std::string &name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};
