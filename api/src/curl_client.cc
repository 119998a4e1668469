#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "cloudlet/api/http_client.h"

namespace cloudlet::api {

namespace {

constexpr size_t kMaxResponseBytes = 256u << 20;  // refuse to buffer more than 256 MiB

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxResponseBytes) return 0;  // aborts the transfer
  out->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r\n") + 1);
    (*out)[name] = value;
  }
  return size * n;
}

class CurlClient final : public HttpClient {
 public:
  explicit CurlClient(ClientOptions options) : options_(std::move(options)) {
    static std::once_flag init;
    std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
  }
  ~CurlClient() override { curl_easy_cleanup(curl_); }

  common::Result<ClientResponse> Send(const ClientRequest& req) override {
    if (!curl_) return common::Status::Internal("libcurl could not be initialised");
    ClientResponse out;
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, std::min(5000L, static_cast<long>(req.timeout.count())));
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (req.method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
    curl_slist* headers = nullptr;
    for (const auto& [k, v] : req.headers) headers = curl_slist_append(headers, (k + ": " + v).c_str());
    if (!req.body.empty() && !req.headers.contains("Content-Type")) {
      headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    if (!req.headers.contains("Expect")) headers = curl_slist_append(headers, "Expect:");  // no 100-continue wait
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &out.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &out.headers);
    const CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      return common::Status::Unavailable(std::string(req.method) + " " + req.url + ": " + curl_easy_strerror(rc));
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &out.status);
    return out;
  }

 private:
  ClientOptions options_;
  CURL* curl_ = nullptr;
};

}  // namespace

std::unique_ptr<HttpClient> MakeHttpClient(ClientOptions options) {
  return std::make_unique<CurlClient>(std::move(options));
}

common::Status CheckServerUrl(const std::string& url, bool insecure, const std::string& what) {
  if (url.rfind("https://", 0) == 0) return common::Status::Ok();
  if (url.rfind("http://", 0) != 0) return common::Status::InvalidField(what, "must start with https:// or http://");
  std::string host = url.substr(7);
  host = host.substr(0, host.find('/'));
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  const bool loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  if (loopback || insecure) return common::Status::Ok();
  return common::Status::InvalidField(
      what, "refusing plain HTTP to " + host + ": tokens would cross the network in the clear; use https:// "
            "(with --ca-file if the certificate is private) or pass --insecure");
}

}  // namespace cloudlet::api
