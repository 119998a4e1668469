#include "cloudlet/api/failover_client.h"

#include <chrono>
#include <thread>

namespace cloudlet::api {
namespace {

class FailoverClient final : public HttpClient {
 public:
  FailoverClient(std::unique_ptr<HttpClient> inner, std::vector<std::string> bases)
      : inner_(std::move(inner)), bases_(std::move(bases)) {}

  common::Result<ClientResponse> Send(const ClientRequest& request) override {
    std::string path;
    bool ours = false;
    for (const auto& base : bases_) {
      if (request.url.rfind(base, 0) == 0) {
        path = request.url.substr(base.size());
        ours = true;
        break;
      }
    }
    if (!ours) return inner_->Send(request);
    const size_t n = bases_.size(), tries = 2 * n;
    std::string why;
    std::chrono::milliseconds backoff(100);
    for (size_t attempt = 0; attempt < tries; ++attempt) {
      const size_t i = (good_ + attempt) % n;
      ClientRequest each = request;
      each.url = bases_[i] + path;
      auto r = inner_->Send(each);
      const bool last = attempt + 1 == tries;
      if (r.ok() && (r->status < 500 || last)) {
        good_ = i;
        return r;
      }
      why += (why.empty() ? "" : "; ") +
             (r.ok() ? bases_[i] + " answered " + std::to_string(r->status) : bases_[i] + ": " + r.status().message());
      if ((attempt + 1) % n == 0 && !last) {  // every base failed once: wait before the next round
        std::this_thread::sleep_for(backoff);
        backoff *= 2;
      }
    }
    return common::Status::Unavailable(why);
  }

 private:
  std::unique_ptr<HttpClient> inner_;
  const std::vector<std::string> bases_;
  size_t good_ = 0;
};

}  // namespace

std::unique_ptr<HttpClient> MakeFailoverClient(std::unique_ptr<HttpClient> inner, std::vector<std::string> bases) {
  if (bases.size() < 2) return inner;
  return std::make_unique<FailoverClient>(std::move(inner), std::move(bases));
}

}  // namespace cloudlet::api
