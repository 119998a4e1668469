#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "cloudlet/agent/agent.h"
#include "cloudlet/agent/backoff.h"
#include "cloudlet/agent/base_vm_cache.h"
#include "cloudlet/agent/host_sampler.h"
#include "cloudlet/auth/ed25519.h"
#include "cloudlet/discovery/txt_record.h"
#include "cloudlet/common/files.h"
#include "support/temp_dir.h"

namespace cloudlet::agent {
namespace {

using namespace std::chrono_literals;

constexpr char kStat[] =
    "cpu  100 20 30 800 50 0 0 0 0 0\n"
    "cpu0 50 10 15 400 25 0 0 0 0 0\n"
    "cpu1 50 10 15 400 25 0 0 0 0 0\n"
    "intr 12345\nctxt 999\n";
constexpr char kMeminfo[] = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8192000 kB\n";

TEST(HostSampler, ParsesProcStat) {
  auto t = ParseProcStat(kStat);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->total, 1000u);
  EXPECT_EQ(t->busy, 150u);  // idle 800 and iowait 50 are not busy
  EXPECT_EQ(t->cores, 2);
  EXPECT_FALSE(ParseProcStat("intr 1\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu  1 2\n").ok());
}

TEST(HostSampler, ParsesMeminfo) {
  auto m = ParseMeminfo(kMeminfo);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->total_mb, 16000);
  EXPECT_EQ(m->available_mb, 8000);
  EXPECT_FALSE(ParseMeminfo("MemTotal: 100 kB\n").ok());
}

TEST(HostSampler, UtilisationIsMeasuredBetweenSamples) {
  testing::TempDir dir;
  ASSERT_TRUE(common::WriteFileAtomically(dir.File("stat"), kStat).ok());
  ASSERT_TRUE(common::WriteFileAtomically(dir.File("meminfo"), kMeminfo).ok());
  HostSampler sampler({.proc_dir = dir.path(), .cpu_millis = std::nullopt, .mem_mb = std::nullopt});
  auto first = sampler.Sample();
  ASSERT_TRUE(first.ok());
  EXPECT_NEAR(first->load, 0.15, 1e-9);  // since boot
  EXPECT_EQ(first->cpu_total_millis, 2000);
  EXPECT_EQ(first->mem_total_mb, 16000);
  EXPECT_EQ(first->mem_free_mb, 8000);
  // 100 more jiffies, 75 of them busy.
  ASSERT_TRUE(common::WriteFileAtomically(dir.File("stat"), "cpu  175 20 30 825 50 0 0 0 0 0\ncpu0 1\ncpu1 1\n").ok());
  auto second = sampler.Sample();
  ASSERT_TRUE(second.ok());
  EXPECT_NEAR(second->load, 0.75, 1e-9);
  EXPECT_EQ(second->cpu_free_millis, 500);
}

TEST(HostSampler, OverridesPartitionTheHost) {
  testing::TempDir dir;
  ASSERT_TRUE(common::WriteFileAtomically(dir.File("stat"), kStat).ok());
  ASSERT_TRUE(common::WriteFileAtomically(dir.File("meminfo"), kMeminfo).ok());
  HostSampler sampler({.proc_dir = dir.path(), .cpu_millis = 1000, .mem_mb = 10000});
  auto s = sampler.Sample();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->cpu_total_millis, 1000);
  EXPECT_EQ(s->cpu_free_millis, 850);
  EXPECT_EQ(s->mem_total_mb, 10000);
  EXPECT_EQ(s->mem_free_mb, 2000);  // the host uses 8000 of 16000 MiB; they count against the partition
}

TEST(HostSampler, MissingProcFilesAreAnError) {
  HostSampler sampler({.proc_dir = "/nonexistent", .cpu_millis = std::nullopt, .mem_mb = std::nullopt});
  EXPECT_FALSE(sampler.Sample().ok());
}

TEST(Backoff, DoublesUpToTheCeilingWithJitterBelowIt) {
  Backoff b({.initial = 100ms, .max = 1000ms, .jitter = 0.5}, 42);
  const int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int64_t ceiling : ceilings) {
    const auto d = b.Next().count();
    EXPECT_LE(d, ceiling);
    EXPECT_GE(d, ceiling / 2);
  }
  b.Reset();
  EXPECT_LE(b.Next().count(), 100);
}

TEST(Backoff, JitterSpreadsAgentsThatFailedTogether) {
  std::set<int64_t> delays;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Backoff b({.initial = 1000ms, .max = 30'000ms, .jitter = 0.5}, seed);
    delays.insert(b.Next().count());
  }
  EXPECT_GT(delays.size(), 10u);
}

TEST(Backoff, NoJitterIsExact) {
  Backoff b({.initial = 10ms, .max = 25ms, .jitter = 0}, 1);
  EXPECT_EQ(b.Next(), 10ms);
  EXPECT_EQ(b.Next(), 20ms);
  EXPECT_EQ(b.Next(), 25ms);
}

void WriteBytes(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

TEST(BaseVmCache, HashesImagesOnceAndRemembersDigestsAcrossRestarts) {
  testing::TempDir dir;
  const std::string images = dir.File("images");
  std::filesystem::create_directories(images);
  WriteBytes(images + "/a.qcow2", "abc");
  WriteBytes(images + "/b.img", std::string(3 << 20, 'x'));
  WriteBytes(images + "/.partial", "ignored");
  const std::string state = dir.File("state/base-vms.json");
  {
    BaseVmCache cache(state);
    int progress_calls = 0;
    auto vms = cache.Scan(images, [&](const HashProgress&) { ++progress_calls; });
    ASSERT_TRUE(vms.ok()) << vms.status().ToString();
    ASSERT_EQ(vms->size(), 2u);
    // sha256("abc"), the FIPS 180-2 example.
    EXPECT_EQ((*vms)[0].digest, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_NEAR((*vms)[1].size_mb, 3.0, 1e-9);
    EXPECT_EQ(cache.hashed_last_scan(), 2u);
    EXPECT_GE(progress_calls, 2);
  }
  BaseVmCache restarted(state);
  auto again = restarted.Scan(images);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 2u);
  EXPECT_EQ(restarted.hashed_last_scan(), 0u);  // nothing rehashed

  // A changed image (new content, new mtime) is hashed again; the other is not.
  WriteBytes(images + "/a.qcow2", "abcd");
  struct utimbuf times {1000, 1000};
  ::utime((images + "/a.qcow2").c_str(), &times);
  auto changed = restarted.Scan(images);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(restarted.hashed_last_scan(), 1u);
  EXPECT_EQ((*changed)[0].digest, "sha256:88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
}

TEST(BaseVmCache, ACorruptStateFileOnlyCostsRehashing) {
  testing::TempDir dir;
  const std::string images = dir.File("images");
  std::filesystem::create_directories(images);
  WriteBytes(images + "/a.qcow2", "abc");
  ASSERT_TRUE(common::WriteFileAtomically(dir.File("base-vms.json"), "{not json").ok());
  BaseVmCache cache(dir.File("base-vms.json"));
  auto vms = cache.Scan(images);
  ASSERT_TRUE(vms.ok());
  EXPECT_EQ(vms->size(), 1u);
  EXPECT_EQ(cache.hashed_last_scan(), 1u);
}

TEST(BaseVmCache, AMissingDirectoryIsAnErrorNamingIt) {
  testing::TempDir dir;
  BaseVmCache cache(dir.File("state.json"));
  auto vms = cache.Scan(dir.File("nope"));
  ASSERT_FALSE(vms.ok());
  EXPECT_NE(vms.status().message().find("nope"), std::string::npos);
}

TEST(Advert, MovesOnlyWhenLoadOrCapacityChangesMaterially) {
  discovery::CloudletDescriptor d;
  d.id = "cl-a";
  d.isolation = {"vm"};
  HostSample s{.load = 0.20, .cpu_total_millis = 2000, .cpu_free_millis = 1600, .mem_total_mb = 1000, .mem_free_mb = 500};
  const auto base = MakeAdvert(d, s, "", 1);
  EXPECT_EQ(base.load_percent, 20);
  HostSample small = s;
  small.load = 0.23;
  small.cpu_free_millis = 1540;  // 3% of the total
  EXPECT_FALSE(AdvertMoved(base, MakeAdvert(d, small, "", 2), 5, 5));
  HostSample busy = s;
  busy.load = 0.60;
  EXPECT_TRUE(AdvertMoved(base, MakeAdvert(d, busy, "", 2), 5, 5));
  HostSample memory = s;
  memory.mem_free_mb = 400;  // 10% of the total
  EXPECT_TRUE(AdvertMoved(base, MakeAdvert(d, memory, "", 2), 5, 5));
  d.base_vms.push_back({"sha256:" + std::string(64, 'a'), 1});
  EXPECT_TRUE(AdvertMoved(base, MakeAdvert(d, s, "", 2), 5, 5));
}

}  // namespace
}  // namespace cloudlet::agent

namespace cloudlet::agent {
namespace {

TEST(SignedAdvert, VerifiesAndAnyChangeBreaksIt) {
  testing::TempDir dir;
  auto key = auth::LoadOrCreateSigningKey(dir.File("advert.key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("advert.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = auth::LoadOrCreateSigningKey(dir.File("advert.key"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->public_key(), (*key)->public_key());  // kept across restarts
  EXPECT_TRUE(discovery::ValidatePublicKey((*key)->public_key()).ok());

  discovery::Advert a;
  a.id = "cl-a";
  a.cpu_free_millis = 1000;
  a.cpu_total_millis = 2000;
  a.mem_free_mb = 1;
  a.mem_total_mb = 2;
  a.isolation = {"vm"};
  for (int i = 0; i < 40; ++i) a.base_vms.push_back(std::string(11, 'a') + "0123456789abcdef"[i % 16]);
  a.seq = 9;
  const auto txt = discovery::EncodeSignedTxt(a, (*key)->public_key(), [&](std::string_view m) { return (*key)->Sign(m); });
  EXPECT_LE(discovery::TxtWireBytes(txt), discovery::kTxtRecordBudgetBytes);
  auto decoded = discovery::DecodeTxt(txt);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->public_key, (*key)->public_key());
  EXPECT_TRUE(auth::VerifyEd25519(decoded->public_key, discovery::TxtSigningInput(txt), decoded->signature));

  // Order on the wire does not matter; any changed value (a replayed seq, a load) does.
  auto shuffled = txt;
  std::reverse(shuffled.begin(), shuffled.end());
  EXPECT_EQ(discovery::TxtSigningInput(shuffled), discovery::TxtSigningInput(txt));
  for (const char* key_name : {"seq=", "load=", "id="}) {
    auto changed = txt;
    for (auto& s : changed) {
      if (s.rfind(key_name, 0) == 0) s += "1";
    }
    EXPECT_FALSE(auth::VerifyEd25519(decoded->public_key, discovery::TxtSigningInput(changed), decoded->signature))
        << key_name;
  }
  auto other = auth::LoadOrCreateSigningKey(dir.File("other.key"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(auth::VerifyEd25519((*other)->public_key(), discovery::TxtSigningInput(txt), decoded->signature));
  EXPECT_FALSE(auth::VerifyEd25519("not-a-key", "m", "not-a-signature"));
}

TEST(SignedAdvert, AFileThatIsNotAKeyIsAnErrorNamingIt) {
  testing::TempDir dir;
  ASSERT_TRUE(common::WriteFileAtomically(dir.File("advert.key"), "garbage").ok());
  auto key = auth::LoadOrCreateSigningKey(dir.File("advert.key"));
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("advert.key"), std::string::npos);
}

}  // namespace
}  // namespace cloudlet::agent
