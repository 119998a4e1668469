// cloudlet vm overlay: turns an app's full disk into an overlay on its base VM (docs/runtime.md,
// "VM synthesis"), as an app developer does before publishing it: only the clusters that differ from
// the base, gzip-compressed, with the digest the app spec names it by.
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "client.h"
#include "cloudlet/agent/base_vm_cache.h"
#include "cloudlet/agent/subprocess.h"
#include "cloudlet/agent/vm_images.h"
#include "commands.h"

namespace cloudlet::cli {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

struct OverlayFlags {
  std::string base, modified, out, qemu_img = "qemu-img";
  int level = 6;
};

std::string Mb(int64_t bytes) { return fmt::format("{:.2f} MB", bytes / 1e6); }

Status QemuImg(const OverlayFlags& f, std::vector<std::string> args) {
  args.insert(args.begin(), f.qemu_img);
  auto r = agent::RunProgram(args, std::chrono::minutes(30));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return Status::Unavailable(args[0] + " " + args[1] + ": " + r->err.substr(0, 400));
  return Status::Ok();
}

// Compresses `from` into `to` (gzip, `level`).
Status Gzip(const std::string& from, const std::string& to, int level) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(from.c_str(), "rb"), std::fclose);
  if (!in) return Status::Unavailable(from + ": cannot open");
  gzFile out = gzopen(to.c_str(), ("wb" + std::to_string(level)).c_str());
  if (!out) return Status::Unavailable(to + ": cannot create");
  std::vector<char> buffer(1 << 20);
  size_t n = 0;
  bool ok = true;
  while (ok && (n = std::fread(buffer.data(), 1, buffer.size(), in.get())) > 0) {
    ok = gzwrite(out, buffer.data(), static_cast<unsigned>(n)) == static_cast<int>(n);
  }
  ok = gzclose(out) == Z_OK && ok && !std::ferror(in.get());
  return ok ? Status::Ok() : Status::Unavailable(to + ": write failed");
}

Status MakeOverlay(const OverlayFlags& f, bool json_output) {
  if (f.out.empty() || f.base.empty() || f.modified.empty()) {
    return Status::InvalidArgument("--base, --modified and --out are required");
  }
  auto base = agent::InspectQcow2(f.base, f.qemu_img);
  if (!base.ok()) return Status::InvalidArgument("--base: " + base.status().message());
  auto modified = agent::InspectQcow2(f.modified, f.qemu_img);
  if (!modified.ok()) return Status::InvalidArgument("--modified: " + modified.status().message());
  const fs::path out(f.out);
  std::error_code ec;
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) return Status::InvalidArgument("--out: no directory " + dir.string());
  std::string work = (dir / ".cloudlet-overlay-XXXXXX").string();
  if (!::mkdtemp(work.data())) return Status::Unavailable(work + ": cannot create");
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(path, e);
    }
  } cleanup{work};
  const std::string delta = work + "/overlay.qcow2";
  // An empty layer over the app's disk, rebased in safe mode onto the base: qemu-img copies into it
  // exactly the clusters in which the app's disk differs from the base, and nothing else.
  const std::string abs_base = fs::absolute(f.base).string(), abs_modified = fs::absolute(f.modified).string();
  if (!json_output) std::cerr << "comparing " << f.modified << " with " << f.base << " ...\n";
  CLOUDLET_RETURN_IF_ERROR(QemuImg(f, {"create", "-q", "-f", "qcow2", "-b", abs_modified, "-F", "qcow2", delta}));
  CLOUDLET_RETURN_IF_ERROR(QemuImg(f, {"rebase", "-f", "qcow2", "-b", abs_base, "-F", "qcow2", delta}));
  // The path of the developer's base means nothing on a cloudlet (which names the chain itself).
  CLOUDLET_RETURN_IF_ERROR(QemuImg(f, {"rebase", "-u", "-f", "qcow2", "-b", fs::path(f.base).filename().string(),
                                       "-F", "qcow2", delta}));
  const int64_t delta_bytes = static_cast<int64_t>(fs::file_size(delta, ec));
  if (!json_output) std::cerr << "compressing " << Mb(delta_bytes) << " ...\n";
  const std::string packed = work + "/overlay.qcow2.gz";
  CLOUDLET_RETURN_IF_ERROR(Gzip(delta, packed, f.level));
  auto digest = agent::Sha256File(packed);
  if (!digest.ok()) return digest.status();
  fs::rename(packed, out, ec);
  if (ec) return Status::Unavailable("--out: cannot write " + f.out + ": " + ec.message());
  const int64_t base_bytes = static_cast<int64_t>(fs::file_size(f.base, ec));
  const int64_t modified_bytes = static_cast<int64_t>(fs::file_size(f.modified, ec));
  const int64_t out_bytes = static_cast<int64_t>(fs::file_size(out, ec));
  if (json_output) {
    PrintJson({{"base", {{"path", f.base}, {"bytes", base_bytes}, {"virtual_size", base->virtual_size}}},
               {"modified", {{"path", f.modified}, {"bytes", modified_bytes}}},
               {"overlay", {{"path", f.out}, {"bytes", out_bytes}, {"uncompressed_bytes", delta_bytes},
                            {"digest", *digest}}}});
    return Status::Ok();
  }
  std::cout << fmt::format("base      {:>12}  {}\n", Mb(base_bytes), f.base)
            << fmt::format("modified  {:>12}  {}\n", Mb(modified_bytes), f.modified)
            << fmt::format("overlay   {:>12}  {} ({} uncompressed; {:.1f}% of the base)\n", Mb(out_bytes), f.out,
                           Mb(delta_bytes), base_bytes > 0 ? 100.0 * out_bytes / base_bytes : 0.0)
            << "digest    " << *digest << "\n\n"
            << "In the app spec (isolation \"vm\"): \"overlay_url\": \"<where you serve " << out.filename().string()
            << ">\", \"overlay_digest\": \"" << *digest << "\"\n";
  return Status::Ok();
}

}  // namespace

void AddVmCommands(CLI::App& app, Context& ctx) {
  auto* vm = app.add_subcommand("vm", "VM synthesis: make the images the vm runtime boots (docs/runtime.md)");
  vm->require_subcommand(1);
  auto f = std::make_shared<OverlayFlags>();
  auto* overlay = vm->add_subcommand(
      "overlay",
      "Turn an app's full disk into an overlay on its base VM: only the clusters that differ (qemu-img rebase in safe "
      "mode), gzip-compressed. Prints the sizes and the digest to put in the app spec's overlay_digest");
  overlay->add_option("--base", f->base, "The base VM's disk (qcow2), as the cloudlets cache it")->check(CLI::ExistingFile);
  overlay->add_option("--modified", f->modified, "The app's full disk (qcow2): the base with the app installed")
      ->check(CLI::ExistingFile);
  overlay->add_option("--out", f->out, "Where to write the overlay (gzip-compressed qcow2, e.g. app.qcow2.gz)");
  overlay->add_option("--level", f->level, "gzip level, 1 (fast) to 9 (small)")->capture_default_str()
      ->check(CLI::Range(1, 9));
  overlay->callback([&ctx, f] { ctx.run = [&ctx, f] { return MakeOverlay(*f, ctx.options.json_output); }; });
}

}  // namespace cloudlet::cli
