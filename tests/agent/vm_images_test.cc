// The vm runtime's image pipeline (vm_images.h) on local files: what is accepted, what is refused,
// and that nothing refused is kept. Real qemu-img makes and inspects the disks; skips without it.
#include "cloudlet/agent/vm_images.h"
#include "cloudlet/agent/vm_runtime.h"

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "cloudlet/agent/base_vm_cache.h"
#include "cloudlet/agent/subprocess.h"
#include "support/temp_dir.h"

namespace cloudlet::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class VmImagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/qemu-img", X_OK) != 0) GTEST_SKIP() << "qemu-img is not installed (scripts/install-deps)";
    disk_ = dir_.File("disk.qcow2");
    ASSERT_EQ(Run({"qemu-img", "create", "-q", "-f", "qcow2", disk_, "16M"}), 0);
    ASSERT_EQ(Run({"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "base.qcow2", "-F", "qcow2",
                   dir_.File("overlay.qcow2"), "16M"}),
              0);
    std::ofstream(dir_.File("vmlinuz")) << "a kernel";
    std::ofstream(dir_.File("initrd.img")) << "an initrd";
  }

  int Run(const std::vector<std::string>& argv) {
    auto r = RunProgram(argv, 30s);
    return r.ok() ? r->exit_code : -1;
  }
  std::string Tar(const std::string& name, const std::vector<std::string>& members) {
    std::vector<std::string> argv = {"tar", "--format=ustar", "-C", dir_.path(), "-cf", dir_.File(name)};
    argv.insert(argv.end(), members.begin(), members.end());
    EXPECT_EQ(Run(argv), 0);
    return dir_.File(name);
  }
  std::string Gzip(const std::string& from) {
    std::ifstream in(from, std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gzFile out = gzopen((from + ".gz").c_str(), "wb6");
    gzwrite(out, data.data(), static_cast<unsigned>(data.size()));
    gzclose(out);
    return from + ".gz";
  }
  std::string Digest(const std::string& path) { return *Sha256File(path); }
  common::Result<VmFetched> Import(const std::string& path, const std::string& digest) {
    return ImportVmImage(path, digest, dir_.File("cache/" + digest.substr(7)), {});
  }
  bool CacheIsEmpty() {
    std::error_code ec;
    return !fs::exists(dir_.File("cache")) || fs::is_empty(dir_.File("cache"), ec);
  }

  testing::TempDir dir_;
  std::string disk_;
};

TEST_F(VmImagesTest, ABaseIsUnpackedFromItsTarGzippedOrNot) {
  const std::string tar = Tar("base.tar", {"disk.qcow2", "vmlinuz", "initrd.img"});
  for (const std::string& file : {tar, Gzip(tar)}) {
    auto got = Import(file, Digest(file));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->kind, VmImageKind::kBase);
    EXPECT_EQ(got->transferred_bytes, static_cast<int64_t>(fs::file_size(file)));
    EXPECT_EQ(got->virtual_size, 16 << 20);
    const std::string dir = dir_.File("cache/" + Digest(file).substr(7));
    EXPECT_EQ(Digest(dir + "/disk.qcow2"), Digest(disk_));
    EXPECT_EQ(Digest(dir + "/initrd.img"), Digest(dir_.File("initrd.img")));
    EXPECT_EQ(Import(file, Digest(file)).status().code(), common::StatusCode::kAlreadyExists);
  }
}

TEST_F(VmImagesTest, AnOverlayIsStoredAsItsQcow2) {
  const std::string gz = Gzip(dir_.File("overlay.qcow2"));
  auto got = Import(gz, Digest(gz));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->kind, VmImageKind::kOverlay);
  EXPECT_EQ(Digest(dir_.File("cache/" + Digest(gz).substr(7) + "/overlay.qcow2")), Digest(dir_.File("overlay.qcow2")));
}

TEST_F(VmImagesTest, AMismatchOrAnythingButABaseOrAnOverlayIsRefusedAndNothingIsKept) {
  const std::string gz = Gzip(dir_.File("overlay.qcow2"));
  const std::string other = "sha256:" + std::string(64, 'a');
  auto mismatch = Import(gz, other);
  EXPECT_EQ(mismatch.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(mismatch.status().message().find("digest mismatch"), std::string::npos) << mismatch.status().ToString();
  EXPECT_NE(mismatch.status().message().find(Digest(gz)), std::string::npos) << "it says what arrived";

  std::ofstream(dir_.File("evil")) << "x";
  const std::vector<std::pair<std::string, std::string>> refused = {
      {Tar("extra.tar", {"disk.qcow2", "vmlinuz", "initrd.img", "evil"}), "may hold only"},
      {Tar("short.tar", {"disk.qcow2", "vmlinuz"}), "must hold"},
      {dir_.File("vmlinuz"), "neither a base VM"},
  };
  for (const auto& [file, words] : refused) {
    auto r = Import(file, Digest(file));
    EXPECT_FALSE(r.ok()) << file;
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().ToString();
  }
  // A "disk" that is not a qcow2 disk, and one that names an external data file.
  fs::create_directories(dir_.File("fake"));
  fs::copy_file(dir_.File("vmlinuz"), dir_.File("fake/disk.qcow2"));
  std::ofstream(dir_.File("fake/vmlinuz")) << "k";
  std::ofstream(dir_.File("fake/initrd.img")) << "i";
  const std::string fake = dir_.File("fake.tar");
  ASSERT_EQ(Run({"tar", "--format=ustar", "-C", dir_.File("fake"), "-cf", fake, "disk.qcow2", "vmlinuz", "initrd.img"}), 0);
  auto not_qcow = Import(fake, Digest(fake));
  EXPECT_NE(not_qcow.status().message().find("not a usable qcow2"), std::string::npos) << not_qcow.status().ToString();
  ASSERT_EQ(Run({"qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=" + dir_.File("data.raw"),
                 dir_.File("external.qcow2"), "1M"}),
            0);
  const std::string external = Gzip(dir_.File("external.qcow2"));
  auto ext = Import(external, Digest(external));
  EXPECT_NE(ext.status().message().find("external data file"), std::string::npos) << ext.status().ToString();

  // A truncated gzip stream.
  const std::string cut = dir_.File("cut.gz");
  fs::copy_file(gz, cut);
  fs::resize_file(cut, fs::file_size(gz) / 2);
  auto truncated = Import(cut, Digest(cut));
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos) << truncated.status().ToString();
  EXPECT_TRUE(CacheIsEmpty());
}

}  // namespace
}  // namespace cloudlet::agent

namespace cloudlet::agent {
namespace {

// --vm-accel: an explicit choice is taken as given; auto takes KVM only when a guest really boots under
// it within the deadline (on nested hosts /dev/kvm may open while guests hang), and says why.
TEST(ChooseVmAccel, AutoTakesKvmOnlyWhenAGuestBootsUnderIt) {
  std::string why;
  EXPECT_EQ(ChooseVmAccel({.accel = "tcg"}, "/nonexistent", &why), "tcg");
  EXPECT_EQ(ChooseVmAccel({.accel = "kvm"}, "/nonexistent", &why), "kvm");
  std::string kernel;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/boot", ec)) {
    if (e.path().filename().string().starts_with("vmlinuz-")) kernel = e.path().string();
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string chosen =
      ChooseVmAccel({.accel = "auto", .kvm_probe_deadline = std::chrono::seconds(5)}, kernel, &why);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (::access("/dev/kvm", R_OK | W_OK) != 0) {
    EXPECT_EQ(chosen, "tcg");
    EXPECT_NE(why.find("/dev/kvm"), std::string::npos) << why;
  } else if (kernel.empty()) {
    EXPECT_EQ(chosen, "tcg") << "no kernel: no guest could boot";
  } else {
    EXPECT_TRUE(chosen == "kvm" ? why.find("booted") != std::string::npos : why.find("nothing") != std::string::npos)
        << chosen << ": " << why;
  }
  EXPECT_LT(seconds, 10) << "the probe keeps its deadline";
  std::printf("measured: --vm-accel auto chose %s in %.2f s (%s)\n", chosen.c_str(), seconds, why.c_str());
}

}  // namespace
}  // namespace cloudlet::agent
