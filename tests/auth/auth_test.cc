#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "cloudlet/auth/bootstrap_policy.h"
#include "cloudlet/auth/token.h"
#include "support/temp_dir.h"

namespace cloudlet::auth {
namespace {


TEST(TokenTest, GeneratedTokensAreLongRandomAndPrefixed) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string t = GenerateToken("clo");
    ASSERT_EQ(t.substr(0, 4), "clo_");
    EXPECT_EQ(t.size(), 4u + 43u);  // 256 bits in base64url without padding
    EXPECT_TRUE(ValidateTokenText(t, "t").ok());
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(TokenTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abcdef", "abcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcdeg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcde"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(TokenTest, Sha256MatchesKnownVector) {
  const auto d = Sha256("abc");
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[1], 0x78);
  EXPECT_EQ(d[31], 0xad);
}

TEST(TokenTest, RejectsWeakOrOddTokenText) {
  EXPECT_FALSE(ValidateTokenText("short", "t").ok());
  EXPECT_FALSE(ValidateTokenText("has a space in it....", "t").ok());
  EXPECT_FALSE(ValidateTokenText(std::string(600, 'a'), "t").ok());
  EXPECT_EQ(*ValidateTokenText("short", "CLOUDLET_BOOTSTRAP_TOKEN").field(), "CLOUDLET_BOOTSTRAP_TOKEN");
}

TEST(TokenFileTest, CreatesOnceWithOwnerOnlyModeThenReadsBack) {
  cloudlet::testing::TempDir dir;
  const std::string path = dir.File("sub/operator.token");
  auto first = LoadOrCreateTokenFile(path, "clo");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->created);
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = LoadOrCreateTokenFile(path, "clo");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->token, first->token);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(TokenFileTest, RejectsAFileHoldingAWeakTokenNamingTheFile) {
  cloudlet::testing::TempDir dir;
  const std::string path = dir.File("operator.token");
  std::ofstream(path) << "abc\n";
  auto r = LoadOrCreateTokenFile(path, "clo");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos);
}

TEST(BootstrapPolicyTest, AcceptsOnlyTheOperatorToken) {
  auto policy = BootstrapPolicy::Create("operator-secret-0123456789");
  ASSERT_TRUE(policy.ok());
  auto ok = (*policy)->Authenticate("operator-secret-0123456789");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->role, Role::kOperator);
  EXPECT_EQ(ok->subject.find("operator-secret"), std::string::npos);  // never the secret
  EXPECT_TRUE((*policy)->Authorize(*ok, Permission::CloudletWrite("cl-a")).ok());
  EXPECT_TRUE((*policy)->Authorize(*ok, Permission::Operator()).ok());

  EXPECT_EQ((*policy)->Authenticate("").status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_EQ((*policy)->Authenticate("operator-secret-0123456788").status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_EQ((*policy)->Authenticate("operator-secret-0123456789x").status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_EQ((*policy)->Authenticate(std::string(10'000, 'a')).status().code(), common::StatusCode::kUnauthenticated);
}

TEST(BootstrapPolicyTest, DeniesAnyOtherPrincipal) {
  auto policy = BootstrapPolicy::Create("operator-secret-0123456789");
  ASSERT_TRUE(policy.ok());
  Principal stranger{"someone", Role::kOperator, {}, {}};
  EXPECT_EQ((*policy)->Authorize(stranger, Permission::CloudletRead()).code(), common::StatusCode::kPermissionDenied);
  Principal agent{"bootstrap:x", Role::kAgent, {}, "cl-a"};
  EXPECT_FALSE((*policy)->Authorize(agent, Permission::CloudletWrite("cl-a")).ok());
}

TEST(BootstrapPolicyTest, RefusesAWeakBootstrapToken) {
  EXPECT_FALSE(BootstrapPolicy::Create("short").ok());
}

}  // namespace
}  // namespace cloudlet::auth
