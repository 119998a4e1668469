#include "support/podman_lab.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "cloudlet/agent/tenant_networks.h"
#include "cloudlet/api/http_client.h"
#include "support/cloudletd_process.h"

namespace cloudlet::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ResetPodmanRoot(const agent::PodmanOptions& storage) {
  std::string last;
  for (int attempt = 0; attempt < 10; ++attempt) {
    // A reset that failed half-way may have removed the run directory's configuration: write it again.
    (void)agent::MakePodmanRuntime(storage);
    const agent::PodmanInvocation podman = agent::PodmanFor(storage);
    std::vector<std::string> argv = podman.argv;
    argv.insert(argv.end(), {"system", "reset", "--force"});
    auto r = agent::RunProgram(argv, 120s, 4 << 20, podman.env);
    if (r.ok() && r->exit_code == 0) return "";
    last = r.ok() ? r->err : r.status().ToString();
    std::this_thread::sleep_for(500ms);
  }
  return last.empty() ? "failed" : last;
}

void PodmanLab::StartRegistry() {
  registry_port_ = FreeLoopbackPort();
  fs::create_directories(dir_.File("registry"));
  std::ofstream(dir_.File("registry.yml")) << "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                                              "    rootdirectory: " << dir_.File("registry") << "\nhttp:\n  addr: 127.0.0.1:"
                                           << registry_port_ << "\n";
  registry_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/docker-registry", "serve", dir_.File("registry.yml")}, dir_.File("registry.log"),
      dir_.File("registry.log"));
  ASSERT_TRUE(registry_->Start());
  auto http = api::MakeHttpClient();
  ASSERT_TRUE(WaitFor([&] {
    auto r = http->Send({.method = "GET", .url = "http://" + Registry() + "/v2/", .timeout = 1s});
    return r.ok() && r->status == 200;
  })) << ReadFileOrEmpty(dir_.File("registry.log"));
}

agent::PodmanOptions PodmanLab::Storage(const std::string& root, const std::string& agent_id) const {
  return {.root = dir_.File(root + "/storage"), .runroot = dir_.File(root + "/run"), .advertise_address = "127.0.0.1",
          .agent_id = agent_id};
}

common::Result<agent::ProgramResult> PodmanLab::Podman(const std::string& root, const std::vector<std::string>& args) const {
  auto it = roots_.find(root);
  const agent::PodmanInvocation p = agent::PodmanFor(Storage(root, it == roots_.end() ? "lab" : it->second));
  std::vector<std::string> argv = p.argv;
  argv.insert(argv.end(), args.begin(), args.end());
  return agent::RunProgram(argv, 120s, 4 << 20, p.env);
}

std::string PodmanLab::MustPodman(const std::string& root, const std::vector<std::string>& args) const {
  auto r = Podman(root, args);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << "podman " << args[0] << ": " << r->err;
  return r->out;
}

std::string PodmanLab::BuildBase(const std::vector<std::string>& applets) {
  const std::string rootfs = dir_.File("rootfs");
  fs::create_directories(rootfs + "/bin");
  fs::copy_file("/bin/busybox", rootfs + "/bin/busybox", fs::copy_options::overwrite_existing);
  for (const auto& applet : applets) fs::create_symlink("busybox", rootfs + "/bin/" + applet);
  EXPECT_EQ(RunCommand({"tar", "-C", rootfs, "-cf", dir_.File("base.tar"), "."}).exit_code, 0);
  roots_.emplace("builder", "lab");
  EXPECT_TRUE(agent::MakePodmanRuntime(Storage("builder")).ok());  // writes the storage root's configuration
  MustPodman("builder", {"import", "--quiet", dir_.File("base.tar"), Registry() + "/base:1"});
  base_ = Push(Registry() + "/base:1", "base");
  return base_;
}

std::string PodmanLab::BuildApp(const std::string& name, const std::vector<std::string>& lines,
                                const std::map<std::string, std::string>& files) {
  const std::string context = dir_.File("build-" + name);
  for (const auto& [path, content] : files) {
    fs::create_directories(fs::path(context + "/" + path).parent_path());
    std::ofstream(context + "/" + path) << content;
  }
  std::ofstream containerfile(context + "/Containerfile");
  containerfile << "FROM " << base_ << "\n";
  for (const auto& line : lines) containerfile << line << "\n";
  containerfile.close();
  MustPodman("builder", {"build", "--quiet", "--tls-verify=false", "--tag", Registry() + "/" + name + ":1", context});
  return Push(Registry() + "/" + name + ":1", name);
}

std::string PodmanLab::Push(const std::string& tag, const std::string& name) {
  const std::string digest_file = dir_.File(name + ".digest");
  MustPodman("builder", {"push", "--quiet", "--tls-verify=false", "--digestfile", digest_file, tag});
  const std::string digest = ReadFileOrEmpty(digest_file);
  EXPECT_TRUE(digest.starts_with("sha256:")) << digest;
  return tag.substr(0, tag.rfind(':')) + "@" + digest;
}

std::string PodmanLab::SteadyProc() {
  // A /proc with fixed counters: the host seems 8% busy with 6 of 8 GiB free, whatever really runs.
  const std::string proc = dir_.File("proc");
  if (!fs::exists(proc + "/stat")) {
    fs::create_directories(proc);
    std::ofstream(proc + "/stat") << "cpu  100 0 100 2300 0 0 0 0 0 0\ncpu0 50 0 50 1150 0 0 0 0 0 0\n"
                                     "cpu1 50 0 50 1150 0 0 0 0 0 0\n";
    std::ofstream(proc + "/meminfo") << "MemTotal:        8388608 kB\nMemAvailable:    6291456 kB\n";
  }
  return proc;
}

std::unique_ptr<ChildProcess> PodmanLab::StartAgent(LabAgent a) {
  roots_[a.root] = a.id;
  if (std::find(agent_ids_.begin(), agent_ids_.end(), a.id) == agent_ids_.end()) agent_ids_.push_back(a.id);
  if (a.port == 0) a.port = FreeLoopbackPort();
  std::vector<std::string> argv = {CLOUDLET_AGENT_BIN, "--id", a.id, "--name", a.id, "--no-mdns", "--listen",
                                   "127.0.0.1:" + std::to_string(a.port), "--endpoint",
                                   a.endpoint.empty() ? "http://127.0.0.1:" + std::to_string(a.port) : a.endpoint,
                                   "--isolation", "container", "--geo",
                                   a.geo, "--proc-dir", SteadyProc(), "--cpu-millis", "16000", "--state-dir",
                                   dir_.File(a.root + "-state"), "--registry", a.registry_url, "--token", a.token,
                                   "--runtime", "podman", "--runtime-root", dir_.File(a.root), "--insecure-registry",
                                   Registry()};
  argv.insert(argv.end(), a.extra_args.begin(), a.extra_args.end());
  auto agent = std::make_unique<ChildProcess>(argv, dir_.File(a.root + ".log"), dir_.File(a.root + ".log"));
  EXPECT_TRUE(agent->Start());
  auto http = api::MakeHttpClient();
  EXPECT_TRUE(WaitFor([&] {
    auto r = http->Send({.method = "GET", .url = a.registry_url + "/v1/cloudlets/" + a.id,
                         .headers = {{"Authorization", std::string("Bearer ") + kOperatorToken}}, .timeout = 2s});
    return r.ok() && r->status == 200;
  })) << AgentLog(a.root);
  return agent;
}

std::vector<std::string> PodmanLab::Containers(const std::string& root, const std::string& id) const {
  auto r = Podman(root, {"ps", "--all", "--format", "{{.Labels}}", "--filter", "label=cloudlet.agent=" + id});
  std::vector<std::string> out;
  if (!r.ok()) return out;
  std::istringstream lines(r->out);
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find("cloudlet.placement:");
    if (at != std::string::npos) out.push_back(line.substr(at + 19, 19));
  }
  return out;
}

std::string PodmanLab::ContainerOf(const std::string& root, const std::string& placement) const {
  auto r = Podman(root, {"ps", "--all", "--no-trunc", "--format", "{{.ID}}", "--filter", "label=cloudlet.placement=" + placement});
  if (!r.ok() || r->exit_code != 0) return "";
  return r->out.substr(0, r->out.find('\n'));
}

void PodmanLab::TearDown(const std::vector<std::string>& agent_ids) {
  // Containers, images and networks live in the lab's storage roots only: reset removes them all.
  for (const auto& [root, id] : roots_) {
    if (!fs::exists(dir_.File(root))) continue;
    if (std::string why = ResetPodmanRoot(Storage(root, id)); !why.empty()) {
      ADD_FAILURE() << "podman system reset (" << root << "): " << why;
    }
  }
  roots_.clear();
  std::vector<std::string> ids = agent_ids_;
  ids.insert(ids.end(), agent_ids.begin(), agent_ids.end());
  for (const auto& id : ids) {
    if (auto s = agent::RemoveHostGuards(id); !s.ok()) ADD_FAILURE() << s.ToString();
  }
  agent_ids_.clear();
  if (registry_) {
    registry_->Signal(SIGTERM);
    registry_->Wait();
    registry_.reset();
  }
}

}  // namespace cloudlet::testing
