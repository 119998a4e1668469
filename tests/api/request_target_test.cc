// The one reader of request targets both listeners use.
#include "cloudlet/api/request_target.h"

#include <gtest/gtest.h>

namespace cloudlet::api {
namespace {

TEST(RequestTarget, SplitsAndDecodesThePathAndTheQuery) {
  auto t = ParseRequestTarget("/v1/cloudlets/cl%2Da?near=40.4%2C-79.9&limit=5&flag&&x=a+b#frag");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->path, "/v1/cloudlets/cl-a");
  EXPECT_EQ(t->query.at("near"), "40.4,-79.9");
  EXPECT_EQ(t->query.at("limit"), "5");
  EXPECT_EQ(t->query.at("flag"), "");
  EXPECT_EQ(t->query.at("x"), "a+b") << "a plus stays a plus; spaces come as %20";
  EXPECT_EQ(t->query.size(), 4u);
  EXPECT_EQ(ParseRequestTarget("/a?k=1&k=2")->query.at("k"), "2") << "the last value wins";
  EXPECT_EQ(ParseRequestTarget("/")->path, "/");
}

TEST(RequestTarget, RefusesBadEscapesNulsAndWhatIsNotOriginForm) {
  for (const char* bad : {"/v1/%zz", "/v1/%4", "/v1/%", "/v1/a%00b", "/a?k=%00", "/a?%G1=1", "", "v1/cloudlets",
                          "http://host/v1"}) {
    EXPECT_FALSE(ParseRequestTarget(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseRequestTarget("/v1/%zz").status().message(), "path: a % at byte 4 is not followed by two hex digits");
  EXPECT_FALSE(ParseRequestTarget("/" + std::string(kMaxRequestTargetBytes, 'a')).ok());
}

}  // namespace
}  // namespace cloudlet::api
