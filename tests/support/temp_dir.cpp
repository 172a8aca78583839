#include "support/temp_dir.h"

#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace webhookd::test {

TempDir::TempDir()
{
    std::string tmpl = (std::filesystem::temp_directory_path() / "webhookd-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr)
        throw std::runtime_error("could not create a temporary folder");
    path_ = tmpl;
}

TempDir::~TempDir()
{
    if (std::getenv("WEBHOOKD_KEEP_TEMP") != nullptr)
        return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec); // best effort: a destructor must not throw
}

} // namespace webhookd::test
