// NHWC <-> NC1HWC2 conversion: by hand, round trip, and against the input
// BO Mesa filled from the same image bytes.
#include "backends/rocket/layout.h"

#include <gtest/gtest.h>

#include "golden.h"

namespace nonstick::rocket {
namespace {

TEST(RocketLayout, SeventeenChannelsMakeTwoSurfaces) {
  // 2 pixels x 17 channels, value = 10 * pixel + channel.
  std::vector<uint8_t> nhwc;
  for (int p = 0; p < 2; ++p) {
    for (int c = 0; c < 17; ++c) nhwc.push_back(static_cast<uint8_t>(10 * p + c));
  }
  std::vector<uint8_t> npu(feature_bytes(2, 2), 0xee);
  to_npu_layout(nhwc.data(), 2, 17, ir::DType::kInt8, -5, npu.data());
  // Surface 0: pixel 0 channels 0..15, pixel 1 channels 0..15.
  EXPECT_EQ(npu[0], 0);
  EXPECT_EQ(npu[15], 15);
  EXPECT_EQ(npu[16], 10);
  EXPECT_EQ(npu[31], 25);
  // Surface 1: channel 16 then 15 pad bytes per pixel.
  EXPECT_EQ(npu[32], 16);
  EXPECT_EQ(npu[33], 0xfb);
  EXPECT_EQ(npu[47], 0xfb);
  EXPECT_EQ(npu[48], 26);
  std::vector<uint8_t> back(nhwc.size());
  from_npu_layout(npu.data(), 2, 17, ir::DType::kInt8, back.data());
  EXPECT_EQ(back, nhwc);
}

TEST(RocketLayout, Uint8MovesToTheSignedDomainAndBack) {
  const std::vector<uint8_t> nhwc = {0, 128, 255};
  std::vector<uint8_t> npu(feature_bytes(1, 1));
  to_npu_layout(nhwc.data(), 1, 3, ir::DType::kUInt8, 0, npu.data());
  EXPECT_EQ(npu[0], 0x80);  // -128
  EXPECT_EQ(npu[1], 0x00);
  EXPECT_EQ(npu[2], 0x7f);
  std::vector<uint8_t> back(3);
  from_npu_layout(npu.data(), 1, 3, ir::DType::kUInt8, back.data());
  EXPECT_EQ(back, nhwc);
}

TEST(RocketLayout, InputEqualsMesasInputBo) {
  NONSTICK_REQUIRE_SHARED_DATA();
  namespace g = testing::golden;
  const std::string model = "mobilenet_v1_0.25_128_quant";
  g::Submit sub;
  ASSERT_TRUE(g::load_submit(model, 0, &sub));
  const std::vector<uint8_t> image = g::read_bytes(g::goldens_dir() + "/" + model + "/input_0.bin");
  ASSERT_EQ(image.size(), 128u * 128 * 3);
  // uint8 input with zero point 128: pad channels hold 128 - 128 = 0.
  std::vector<uint8_t> mine(feature_bytes(128 * 128, 1));
  to_npu_layout(image.data(), 128 * 128, 3, ir::DType::kUInt8, 0, mine.data());
  const std::vector<uint8_t> mesa = sub.blob(*sub.bo_by_handle(sub.jobs[0].in_handles[0]));
  ASSERT_GE(mesa.size(), mine.size());
  EXPECT_TRUE(std::equal(mine.begin(), mine.end(), mesa.begin()));
}

}  // namespace
}  // namespace nonstick::rocket
