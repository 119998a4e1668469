// What fuzz targets share besides cloudletd: a scratch directory for their SQLite files (tmpfs when
// there is one), made once per process and removed at exit, and a way to fail their setup loudly.
#pragma once

#include <string>

namespace cloudlet::fuzz {

const std::string& ScratchDirectory();
[[noreturn]] void DieInSetup(const std::string& what);

}  // namespace cloudlet::fuzz
