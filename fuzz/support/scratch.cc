#include "support/scratch.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace cloudlet::fuzz {

namespace {

std::string* g_dir = nullptr;

void RemoveScratch() {
  std::error_code ignored;
  if (g_dir) std::filesystem::remove_all(*g_dir, ignored);
}

}  // namespace

const std::string& ScratchDirectory() {
  if (!g_dir) {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string templ = std::string(base) + "/cloudlet-fuzz-XXXXXX";
    if (!::mkdtemp(templ.data())) DieInSetup("cannot make a directory under " + std::string(base));
    g_dir = new std::string(templ);
    std::atexit(RemoveScratch);
  }
  return *g_dir;
}

void DieInSetup(const std::string& what) {
  std::fprintf(stderr, "fuzz setup: %s\n", what.c_str());
  std::abort();
}

}  // namespace cloudlet::fuzz
