// The store conformance suite: what every backend of the store interfaces (discovery::RegistryStore,
// placement::PlacementStore, auth::CredentialStore, metering::LedgerStore and PriceStore,
// metering::UsageSpool) must do, written against the interfaces alone. A backend runs it by
// instantiating the suite with a StoreBackend (store_conformance_test.cc does so for SQLite):
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(SqliteBackend()),
//                            [](const auto& info) { return info.param.name; });
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "cloudlet/auth/credentials.h"
#include "cloudlet/discovery/registry_store.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/spool.h"
#include "cloudlet/metering/usage.h"
#include "cloudlet/placement/placement_service.h"

namespace cloudlet::testing {

// One open database of a backend: the registry's stores, and the agent's spool beside them.
struct OpenStores {
  std::shared_ptr<void> keep_alive;  // whatever owns the stores below
  discovery::RegistryStore* registry = nullptr;
  placement::PlacementStore* placements = nullptr;
  auth::CredentialStore* credentials = nullptr;
  metering::LedgerStore* ledger = nullptr;
  metering::PriceStore* prices = nullptr;
  std::unique_ptr<metering::UsageSpool> spool;
};

struct StoreBackend {
  std::string name;
  // Opens the backend's database named `where` (a directory the suite owns), creating it when new.
  // Opening the same `where` again, after the first is closed, must see what was written.
  std::function<common::Result<OpenStores>(const std::string& where)> open;
};

class StoreConformance : public ::testing::TestWithParam<StoreBackend> {};

}  // namespace cloudlet::testing
