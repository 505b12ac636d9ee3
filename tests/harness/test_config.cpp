#include "harness/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "harness/registry.h"
#include "tests/harness/toy_experiment.h"

namespace talklab {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry.add(testing::toy_experiment());
    dir = fs::temp_directory_path() / ("talklab-config-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir / "profiles");
  }
  void TearDown() override { fs::remove_all(dir); }
  void write_profile(const std::string& name, const std::string& text) {
    std::ofstream(dir / "profiles" / (name + ".toml")) << text;
  }
  std::string load_error(const std::string& text) {
    write_profile("p", text);
    try {
      load_profile(dir, "p", registry);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  Registry registry;
  fs::path dir;
};

const char* kGood = R"([timing]
min_time_s = 0.1
[toy]
seq = [7, 129]
dtype = ["f32"]
mode = "plain"
)";

TEST_F(ConfigTest, LoadsAValidProfile) {
  write_profile("p", kGood);
  const Profile p = load_profile(dir, "p", registry);
  EXPECT_EQ(p.min_time_s, 0.1);
  ASSERT_EQ(p.experiments.count("toy"), 1u);
  ASSERT_EQ(p.experiments.at("toy").size(), 1u);
  EXPECT_EQ(p.experiments.at("toy")[0].axes.at("seq").values.size(), 2u);
  EXPECT_EQ(p.experiments.at("toy")[0].axes.at("seq").line, 4);
}

TEST_F(ConfigTest, SweepsAreTheUnionOfTheirProductsAndMayNameImplementations) {
  write_profile("p", R"([[toy]]
seq = [7]
dtype = "f32"
mode = "plain"
[[toy]]
seq = [7, 9]
dtype = "bf16"
mode = "plain"
implementations = ["ours"]
)");
  const Profile p = load_profile(dir, "p", registry);
  ASSERT_EQ(p.experiments.at("toy").size(), 2u);
  EXPECT_EQ(p.experiments.at("toy")[1].implementations, std::vector<std::string>{"ours"});
  EXPECT_NE(load_error("[[toy]]\nseq = 1\ndtype = 'f32'\nmode = 'plain'\nimplementations = ['theirs']\n")
                .find("'toy' has no implementation 'theirs' (valid: ours, gpu)"),
            std::string::npos);
}

TEST_F(ConfigTest, MalformedTomlNamesFileAndLine) {
  const std::string e = load_error("[toy]\nseq = [7, \n");
  EXPECT_NE(e.find("p.toml:"), std::string::npos) << e;
  EXPECT_NE(e.find("malformed TOML"), std::string::npos) << e;
}

TEST_F(ConfigTest, UnknownExperimentIsNamedWithItsLine) {
  const std::string e = load_error("[tyo]\nseq = 1\n");
  EXPECT_NE(e.find("p.toml:1: unknown experiment 'tyo' (known: toy)"), std::string::npos) << e;
}

TEST_F(ConfigTest, UnknownAxisListsTheValidOnes) {
  const std::string e = load_error("[toy]\nseq = 1\nsqe = 2\ndtype = 'f32'\nmode = 'plain'\n");
  EXPECT_NE(e.find("p.toml:3: unknown axis 'sqe' of experiment 'toy' (valid: seq, dtype, mode)"), std::string::npos)
      << e;
}

TEST_F(ConfigTest, WrongTypeAndBadChoiceAreNamed) {
  std::string e = load_error("[toy]\nseq = 'long'\ndtype = 'f32'\nmode = 'plain'\n");
  EXPECT_NE(e.find("p.toml:2: axis 'seq' takes integers, got 'long'"), std::string::npos) << e;
  e = load_error("[toy]\nseq = 1\ndtype = ['f32', 'f64']\nmode = 'plain'\n");
  EXPECT_NE(e.find("p.toml:3: axis 'dtype' has no value 'f64'"), std::string::npos) << e;
}

TEST_F(ConfigTest, MissingAxisAndUnequalZipAreErrors) {
  std::string e = load_error("[toy]\nseq = 1\ndtype = 'f32'\n");
  EXPECT_NE(e.find("gives no values for axis 'mode'"), std::string::npos) << e;
  e = load_error("[toy]\nseq = [1, 2]\ndtype = ['f32']\nmode = 'plain'\nzip = [['seq', 'dtype']]\n");
  EXPECT_NE(e.find("different lengths"), std::string::npos) << e;
}

TEST_F(ConfigTest, UnknownProfileListsTheAvailableOnes) {
  write_profile("quick", kGood);
  try {
    load_profile(dir, "quik", registry);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown profile 'quik' (available: quick"), std::string::npos) << e.what();
  }
}

// The real configs/: every profile loads against the real experiments, and the talk registry is complete.
TEST(RealConfigs, TalkRegistryHasEveryFieldAndUniqueIds) {
  const auto talks = load_talks(fs::path(TALKLAB_SOURCE_DIR) / "configs" / "talks.toml");
  ASSERT_GE(talks.size(), 10u);
  for (const Talk& t : talks) {
    EXPECT_EQ(t.url, "https://www.youtube.com/watch?v=" + t.video_id) << t.key;
    EXPECT_FALSE(t.title.empty());
    EXPECT_FALSE(t.speakers.empty()) << t.key;
    EXPECT_FALSE(t.reproduces.empty());
    EXPECT_EQ(find_talk(talks, t.video_id), find_talk(talks, t.key));
  }
}

TEST(RealConfigs, UnknownTalkIdIsAnError) {
  const auto talks = load_talks(fs::path(TALKLAB_SOURCE_DIR) / "configs" / "talks.toml");
  Registry r;
  Experiment e = testing::toy_experiment();
  e.talks = {"no-such-talk"};
  r.add(e);
  EXPECT_THROW(check_talk_ids(r, talks), InputError);
}

}  // namespace
}  // namespace talklab
