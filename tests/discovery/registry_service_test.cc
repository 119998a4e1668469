#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "cloudlet/discovery/registry_service.h"
#include "cloudlet/store/sqlite_stores.h"
#include "discovery/test_descriptors.h"
#include "support/temp_dir.h"

namespace cloudlet::discovery {
namespace {

using std::chrono::milliseconds;
using testing::MakeDescriptor;

// A store that fails every write, to show that nothing is acknowledged that was not stored.
class BrokenStore final : public RegistryStore {
 public:
  common::Result<StoredRegistry> Load() override { return StoredRegistry{}; }
  common::Status Apply(const std::vector<StoreOp>&, uint64_t) override {
    return common::Status::Unavailable("disk on fire");
  }
};

common::Result<PutOutcome> RegisterAndWait(RegistryService& service, CloudletDescriptor d) {
  std::promise<common::Result<PutOutcome>> done;
  service.Register(std::move(d), [&](common::Result<PutOutcome> r) { done.set_value(std::move(r)); });
  auto f = done.get_future();
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return common::Status::Internal("timed out");
  return f.get();
}

class RegistryServiceTest : public ::testing::Test {
 protected:
  std::unique_ptr<RegistryStore> OpenStore() {
    auto s = store::OpenSqliteRegistryStore(dir_.File("registry.db"));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }
  cloudlet::testing::TempDir dir_;
  common::SystemClock clock_;
  RegistryOptions options_{};
  ServiceOptions service_options_{.flush_interval = milliseconds(50), .health_interval = milliseconds(10)};
};

TEST_F(RegistryServiceTest, AcknowledgedRegistrationsAndHeartbeatStateSurviveRestart) {
  {
    auto store = OpenStore();
    RegistryService service(clock_, options_, *store, service_options_);
    ASSERT_TRUE(service.Start().ok());
    std::vector<std::thread> threads;
    std::atomic<int> created{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) {
          auto r = RegisterAndWait(service, MakeDescriptor("cl-" + std::to_string(t) + "-" + std::to_string(i)));
          if (r.ok() && *r == PutOutcome::kCreated) ++created;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(created.load(), 200);
    ASSERT_TRUE(service.Heartbeat("cl-0-0", {.load = 0.625}).ok());
    service.Stop();  // flushes heartbeat state
  }
  auto store = OpenStore();
  RegistryService service(clock_, options_, *store, service_options_);
  ASSERT_TRUE(service.Start().ok());
  auto list = service.registry().List({});
  ASSERT_EQ(list.entries.size(), 200u);
  for (const auto& e : list.entries) EXPECT_EQ(e.record.health, Health::kSuspect);
  EXPECT_DOUBLE_EQ(service.registry().Get("cl-0-0")->load, 0.625);
}

TEST_F(RegistryServiceTest, DeregisterIsDurableAndUnknownIdIsNotFound) {
  auto store = OpenStore();
  RegistryService service(clock_, options_, *store, service_options_);
  ASSERT_TRUE(service.Start().ok());
  ASSERT_TRUE(RegisterAndWait(service, MakeDescriptor("cl-a")).ok());
  std::promise<common::Status> gone, unknown;
  service.Deregister("cl-a", [&](common::Status s) { gone.set_value(s); });
  service.Deregister("cl-zz", [&](common::Status s) { unknown.set_value(s); });
  EXPECT_TRUE(gone.get_future().get().ok());
  EXPECT_EQ(unknown.get_future().get().code(), common::StatusCode::kNotFound);
  EXPECT_FALSE(service.registry().Contains("cl-a"));
  service.Stop();
  auto reopened = store->Load();
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(reopened->records.empty());
}

TEST_F(RegistryServiceTest, FailedStoreWriteIsNotAcknowledgedAndChangesNothing) {
  BrokenStore store;
  RegistryService service(clock_, options_, store, service_options_);
  ASSERT_TRUE(service.Start().ok());
  auto r = RegisterAndWait(service, MakeDescriptor("cl-a"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), common::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("disk on fire"), std::string::npos);
  EXPECT_FALSE(service.registry().Contains("cl-a"));
}

TEST_F(RegistryServiceTest, StoppedServiceRefusesWrites) {
  auto store = OpenStore();
  RegistryService service(clock_, options_, *store, service_options_);
  ASSERT_TRUE(service.Start().ok());
  service.Stop();
  auto r = RegisterAndWait(service, MakeDescriptor("cl-a"));
  EXPECT_EQ(r.status().code(), common::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace cloudlet::discovery
