#include "harness/axis.h"
#include "harness/params.h"

#include <gtest/gtest.h>

namespace talklab {
namespace {

TEST(Axis, ParsesIntegersAndRejectsOtherText) {
  const Axis seq = int_axis("seq", "sequence length");
  std::string error;
  EXPECT_EQ(std::get<int64_t>(*seq.parse("4096", &error)), 4096);
  EXPECT_EQ(std::get<int64_t>(*seq.parse("-3", &error)), -3);
  for (const char* bad : {"", "abc", "12x", "1.5", "99999999999999999999999"}) {
    EXPECT_FALSE(seq.parse(bad, &error)) << bad;
    EXPECT_NE(error.find("seq"), std::string::npos) << error;
    EXPECT_NE(error.find("integers"), std::string::npos) << error;
  }
}

TEST(Axis, ParsesFloats) {
  const Axis budget = float_axis("budget", "memory budget");
  std::string error;
  EXPECT_DOUBLE_EQ(std::get<double>(*budget.parse("0.25", &error)), 0.25);
  EXPECT_FALSE(budget.parse("nan", &error));
  EXPECT_FALSE(budget.parse("0.5.1", &error));
}

TEST(Axis, StringAndDtypeAxesAcceptOnlyTheirChoices) {
  const Axis dtype = dtype_axis("dtype", {"f32", "bf16"}, "input dtype");
  std::string error;
  EXPECT_EQ(std::get<std::string>(*dtype.parse("bf16", &error)), "bf16");
  EXPECT_FALSE(dtype.parse("fp64", &error));
  EXPECT_NE(error.find("valid: f32, bf16"), std::string::npos) << error;
  EXPECT_FALSE(dtype.accepts(AxisValue{int64_t(3)}, &error));
}

TEST(Axis, FormatsValuesForCaseNames) {
  EXPECT_EQ(format_axis_value(AxisValue{int64_t(512)}), "512");
  EXPECT_EQ(format_axis_value(AxisValue{0.05}), "0.05");
  EXPECT_EQ(format_axis_value(AxisValue{std::string("sliding_window")}), "sliding_window");
}

TEST(Axis, SplitsListsAndRejectsEmptyItems) {
  std::vector<std::string> items;
  std::string error;
  ASSERT_TRUE(split_list("1,16,128", &items, &error));
  EXPECT_EQ(items, (std::vector<std::string>{"1", "16", "128"}));
  EXPECT_FALSE(split_list("1,,2", &items, &error));
  EXPECT_FALSE(split_list("", &items, &error));
}

TEST(Params, KeepsDeclaredOrderAndTypedAccess) {
  Params p;
  p.set("seq", int64_t(4096));
  p.set("window", int64_t(512));
  p.set("dtype", std::string("bf16"));
  p.set("seq", int64_t(8192));  // replaces in place
  EXPECT_EQ(p.path(), "seq=8192/window=512/dtype=bf16");
  EXPECT_EQ(p.integer("window"), 512);
  EXPECT_EQ(p.number("window"), 512.0);
  EXPECT_EQ(p.str("dtype"), "bf16");
  EXPECT_THROW(p.integer("dtype"), std::invalid_argument);
  EXPECT_THROW(p.get("heads"), std::out_of_range);
}

}  // namespace
}  // namespace talklab
