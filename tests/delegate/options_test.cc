// Delegate options: the `exact` switch (option and NONSTICK_EXACT) and its
// path into the backend configuration.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "delegate/options.h"
#include "support/scoped_env.h"

namespace nonstick {
namespace {

using testing::ScopedEnv;

TEST(Options, ExactIsOnByDefault) {
  DelegateOptions o;
  std::string error;
  ASSERT_TRUE(parse_options({}, &o, &error)) << error;
  EXPECT_TRUE(o.exact);
  EXPECT_TRUE(DelegateOptions{}.exact);
}

TEST(Options, ExactTakesZeroOrOne) {
  DelegateOptions o;
  std::string error;
  ASSERT_TRUE(parse_options({{"exact", "1"}}, &o, &error)) << error;
  EXPECT_TRUE(o.exact);
  ASSERT_TRUE(parse_options({{"exact", "0"}}, &o, &error)) << error;
  EXPECT_FALSE(o.exact);
  for (const char* bad : {"yes", "2", "", "true"}) {
    EXPECT_FALSE(parse_options({{"device", "reference"}, {"exact", bad}}, &o, &error)) << bad;
    EXPECT_NE(error.find("option exact: '" + std::string(bad) + "' is not 0|1"), std::string::npos) << error;
    EXPECT_TRUE(o.exact);  // the default
    EXPECT_EQ(o.device, "reference");  // the valid options are kept
  }
}

TEST(Options, ExactFromTheEnvironmentExplicitOptionWins) {
  DelegateOptions o;
  std::string error;
  {
    ScopedEnv env("NONSTICK_EXACT", "0");
    ASSERT_TRUE(parse_options({}, &o, &error)) << error;
    EXPECT_FALSE(o.exact);
    ASSERT_TRUE(parse_options({{"exact", "1"}}, &o, &error)) << error;
    EXPECT_TRUE(o.exact);
  }
  {
    ScopedEnv env("NONSTICK_EXACT", "maybe");
    EXPECT_FALSE(parse_options({}, &o, &error));
    EXPECT_NE(error.find("NONSTICK_EXACT: option exact"), std::string::npos) << error;
  }
}

TEST(Options, HelpAndUnknownKeyNameExact) {
  EXPECT_NE(options_help().find("exact (env NONSTICK_EXACT)"), std::string::npos);
  DelegateOptions o;
  std::string error;
  EXPECT_FALSE(parse_options({{"exactly", "1"}}, &o, &error));
  EXPECT_NE(error.find("exact, inject_failure"), std::string::npos) << error;
}

}  // namespace
}  // namespace nonstick
