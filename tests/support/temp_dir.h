#pragma once

#include <filesystem>
#include <string>

namespace webhookd::test {

// A fresh folder under the system temp directory, removed with its contents
// when the object goes out of scope (unless WEBHOOKD_KEEP_TEMP is set).
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

} // namespace webhookd::test
