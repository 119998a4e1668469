#include "cloudlet/agent/usage_forwarder.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace cloudlet::agent {

using namespace std::chrono_literals;

constexpr size_t kBatch = 100;

UsageForwarder::UsageForwarder(metering::UsageSpool& spool, ReporterOptions options,
                               std::unique_ptr<api::HttpClient> http, uint64_t seed, std::chrono::milliseconds interval)
    : spool_(spool), options_(std::move(options)), http_(std::move(http)), backoff_(options_.backoff, seed),
      interval_(interval) {
  while (!options_.registry.empty() && options_.registry.back() == '/') options_.registry.pop_back();
}

UsageForwarder::~UsageForwarder() { Stop(); }

void UsageForwarder::Start() { thread_ = std::thread([this] { Run(); }); }

void UsageForwarder::Wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  wake_.notify_all();
}

void UsageForwarder::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  thread_.join();
}

void UsageForwarder::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    const auto wait = SendBatch();
    lock.lock();
    wake_.wait_for(lock, wait, [&] { return stopping_ || (woken_ && wait <= interval_); });
  }
}

std::chrono::milliseconds UsageForwarder::SendBatch() {
  auto batch = spool_.Oldest(kBatch);
  if (!batch.ok()) {
    spdlog::error("usage: cannot read the spool: {}", batch.status().ToString());
    return interval_;
  }
  if (batch->empty()) return interval_;
  nlohmann::json records = nlohmann::json::array();
  for (const auto& r : *batch) records.push_back(r.body);
  auto r = http_->Send(RegistryRequest(options_, "POST", "/v1/usage", nlohmann::json{{"records", records}}.dump()));
  if (!r.ok() || r->status != 200) {
    const auto wait = backoff_.Next();
    spdlog::warn("usage: {} record(s) wait in the spool ({}); retrying in {} ms", batch->size(),
                 r.ok() ? "HTTP " + std::to_string(r->status) : r.status().ToString(), wait.count());
    return wait;
  }
  backoff_.Reset();
  const auto answer = nlohmann::json::parse(r->body, nullptr, false);
  std::vector<std::string> done;
  for (const auto& result : answer.value("results", nlohmann::json::array())) {
    if (result.value("status", "") == "rejected") {
      spdlog::error("usage: the registry rejected record {}: {}", result.value("event_id", ""),
                    result.value("reason", ""));
    }
    done.push_back(result.value("event_id", ""));
  }
  if (done.size() != batch->size()) {
    spdlog::error("usage: the registry answered for {} of {} records", done.size(), batch->size());
    return backoff_.Next();
  }
  if (auto s = spool_.Remove(done); !s.ok()) spdlog::error("usage: cannot trim the spool: {}", s.ToString());
  spdlog::info("usage: forwarded {} record(s) ({} accepted, {} duplicate, {} rejected)", done.size(),
               answer.value("accepted", 0), answer.value("duplicate", 0), answer.value("rejected", 0));
  return batch->size() == kBatch ? 0ms : interval_;  // more waiting: go on at once
}

}  // namespace cloudlet::agent
