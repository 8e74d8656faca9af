// Tests of the generated RK3588 register header (rocket/registers.h):
// accessors against field values Mesa really wrote, every captured regcmd
// word of the Mesa goldens decoded by find_register() and compared with the
// golden labels, the task-tail helpers against the captured tails, and the
// generator's refusal of malformed XML.
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "rocket/registers.h"
#include "support/test_data.h"

namespace nonstick::rocket::reg {
namespace {

namespace fs = std::filesystem;

// ---- (a) accessors -----------------------------------------------------------

// True when the setter is usable in a constant expression for V, i.e. V fits.
template <uint32_t V>
concept conv_mode_fits =
    requires { typename std::integral_constant<uint32_t, CNA_CONV_CON1::CONV_MODE(V)>; };
template <uint32_t V>
concept dw_en_fits = requires { typename std::integral_constant<uint32_t, CORE_MISC_CFG::DW_EN(V)>; };

static_assert(conv_mode_fits<15> && !conv_mode_fits<16>, "4-bit field must reject 16 at compile time");
static_assert(dw_en_fits<1> && !dw_en_fits<2>, "bool field must reject 2 at compile time");

TEST(RocketRegisters, SettersRebuildValuesMesaWrote) {
  // Each value below is a register value from the mobilenet goldens; the
  // field meanings are the ones rocket.md 2.4 gives for a plain convolution.
  EXPECT_EQ(DPU_BS_CFG::BS_ALU_ALGO(2) | DPU_BS_CFG::BS_ALU_SRC(1) | DPU_BS_CFG::BS_RELU_BYPASS(1) |
                DPU_BS_CFG::BS_MUL_BYPASS(1),
            0x00020150u);
  EXPECT_EQ(DPU_BN_CFG::BN_RELU_BYPASS(1) | DPU_BN_CFG::BN_MUL_BYPASS(1) |
                DPU_BN_CFG::BN_ALU_BYPASS(1) | DPU_BN_CFG::BN_BYPASS(1),
            0x00000053u);
  EXPECT_EQ(DPU_EW_CFG::EW_RELU_BYPASS(1) | DPU_EW_CFG::EW_OP_CVT_BYPASS(1) |
                DPU_EW_CFG::EW_LUT_BYPASS(1) | DPU_EW_CFG::EW_OP_BYPASS(1) | DPU_EW_CFG::EW_BYPASS(1),
            0x00000383u);
  EXPECT_EQ(CNA_CVT_CON0::DATA_SIGN(1) | CNA_CVT_CON0::CVT_TYPE(1) | CNA_CVT_CON0::CVT_BYPASS(1),
            0x0000000Bu);
  EXPECT_EQ(CNA_CONV_CON2::FEATURE_GRAINS(50 + 2 + 1), 0x00000350u);
  EXPECT_EQ(CNA_CONV_CON3::CONV_X_STRIDE(2) | CNA_CONV_CON3::CONV_Y_STRIDE(2), 0x00000012u);
  EXPECT_EQ(CNA_WEIGHT_SIZE2::WEIGHT_WIDTH(3) | CNA_WEIGHT_SIZE2::WEIGHT_HEIGHT(3) |
                CNA_WEIGHT_SIZE2::WEIGHT_KERNELS(8),
            0x03030008u);
  using RdmaMode = DPU_RDMA_RDMA_FEATURE_MODE_CFG;
  EXPECT_EQ(RdmaMode::BURST_LEN(15) | RdmaMode::MRDMA_DISABLE(1), 0x00007810u);
  EXPECT_EQ(DPU_FEATURE_MODE_CFG::BURST_LEN(15) | DPU_FEATURE_MODE_CFG::OUTPUT_MODE(2), 0x000001E4u);
  EXPECT_EQ(DPU_BS_OW_OP::OW_OP(twos_complement(0x80 - 0x9D, 16)), 0x0000FFE3u);
  EXPECT_EQ(DPU_OUT_CVT_OFFSET::OUT_CVT_OFFSET(twos_complement(-128, 32)), 0xFFFFFF80u);
  EXPECT_EQ(CNA_CBUF_CON0::get_WEIGHT_BANK(0x48), 4u);
  EXPECT_EQ(CNA_CBUF_CON0::get_DATA_BANK(0x48), 8u);
}

TEST(RocketRegisters, GettersInvertSetters) {
  for (uint32_t v : {0u, 1u, 0x155u, 0x3FFu}) {
    const uint32_t r = CNA_CONV_CON2::FEATURE_GRAINS(v) | CNA_CONV_CON2::CSC_DO_EN(1);
    EXPECT_EQ(CNA_CONV_CON2::get_FEATURE_GRAINS(r), v);
    EXPECT_EQ(CNA_CONV_CON2::get_CSC_DO_EN(r), 1u);
  }
  for (uint32_t v : {0u, 0x7FFu, 0x123u}) {
    const uint32_t r = CNA_DATA_SIZE0::DATAIN_WIDTH(v) | CNA_DATA_SIZE0::DATAIN_HEIGHT(0x7FF - v);
    EXPECT_EQ(CNA_DATA_SIZE0::get_DATAIN_WIDTH(r), v);
    EXPECT_EQ(CNA_DATA_SIZE0::get_DATAIN_HEIGHT(r), 0x7FF - v);
  }
  EXPECT_EQ(PC_BASE_ADDRESS::get_PC_SOURCE_ADDR(PC_BASE_ADDRESS::PC_SOURCE_ADDR(0x0FFFFFFF)),
            0x0FFFFFFFu);
  EXPECT_EQ(CNA_FEATURE_DATA_ADDR::get_FEATURE_BASE_ADDR(0xDEADBEEF), 0xDEADBEEFu);
  EXPECT_EQ(DPU_OUT_CVT_SHIFT::get_CVT_TYPE(DPU_OUT_CVT_SHIFT::CVT_TYPE(1)), 1u);
  EXPECT_EQ(DPU_OUT_CVT_SHIFT::CVT_TYPE(1), 0x80000000u);
}

TEST(RocketRegisters, RegcmdPacksTargetValueOffset) {
  EXPECT_EQ(regcmd(Target::CNA, CNA_DATA_SIZE0::offset, 0x00800080), 0x0201008000801020ull);
  EXPECT_EQ(DPU_RDMA_RDMA_S_POINTER::cmd(0xE), 0x20010000000E5004ull);
  const RegcmdParts p = unpack_regcmd(0x1001ffffff804080ull);
  EXPECT_EQ(p.target, 0x1001);
  EXPECT_EQ(p.value, 0xFFFFFF80u);
  EXPECT_EQ(p.offset, 0x4080);
  EXPECT_EQ(static_cast<uint16_t>(Target::PPU_RDMA), 0x8001);
}

using RocketRegistersDeathTest = ::testing::Test;

TEST_F(RocketRegistersDeathTest, RunTimeOverflowAbortsNamingTheField) {
  volatile uint32_t sixteen = 16, two = 2;  // volatile: keep the calls at run time
  EXPECT_DEATH(CNA_CONV_CON1::CONV_MODE(sixteen), "CNA_CONV_CON1\\.CONV_MODE");
  EXPECT_DEATH(CORE_MISC_CFG::DW_EN(two), "CORE_MISC_CFG\\.DW_EN");
  volatile int64_t too_negative = -32769;
  EXPECT_DEATH(twos_complement(too_negative, 16), "does not fit in 16 bits");
  EXPECT_DEATH(task_tail(false, 0x10000008, 130), "PC_BASE_ADDRESS");  // IOVA not 16-byte aligned
}

TEST(RocketRegisters, FindRegisterCoversTablesAndRejectsUnknown) {
  const RegisterInfo* r = find_register(CNA_CONV_CON1::offset);
  ASSERT_NE(r, nullptr);
  EXPECT_STREQ(r->block, "CNA");
  EXPECT_STREQ(r->name, "CONV_CON1");
  EXPECT_EQ(find_register(0x1002), nullptr);
  EXPECT_EQ(find_register(0x2000), nullptr);  // no block at 0x2000
  for (const RegisterInfo& info : all_registers()) {
    EXPECT_EQ(find_register(info.offset), &info);
    EXPECT_GT(info.field_count, 0);
  }
}

// ---- (b) the Mesa goldens --------------------------------------------------

struct GoldenWord {
  uint64_t word;
  uint16_t target, offset;
  uint32_t value;
  std::string name;  // Mesa's label, "?" when its XML had none
};

struct GoldenTask {
  int job = 0, task = 0, job_tasks = 0;
  uint32_t dma = 0, count = 0;
  std::string blob;
  std::vector<GoldenWord> words;
};

// Golden labels for offsets Mesa's register list lacks, mapped to our names.
const std::map<uint16_t, std::string> kUnlabelled = {{0x3030, "CORE_UNK3030"}, {0x40C4, "DPU_UNK40C4"}};

std::vector<GoldenTask> read_golden_submit(const fs::path& json_path) {
  std::vector<GoldenTask> tasks;
  fs::path txt = json_path;
  txt.replace_extension();
  std::ifstream in(txt.string() + "_regcmd.txt");
  std::string line;
  int job_tasks = 0;
  while (std::getline(in, line)) {
    if (line.rfind("## job", 0) == 0) {
      std::sscanf(line.c_str(), "## job %*d: %d tasks", &job_tasks);
    } else if (line.rfind("### job", 0) == 0) {
      GoldenTask t;
      std::sscanf(line.c_str(), "### job %d task %d regcmd_dma=0x%x count=%u", &t.job, &t.task,
                  &t.dma, &t.count);
      t.job_tasks = job_tasks;
      tasks.push_back(t);
    } else if (!line.empty() && line[0] != '#') {
      std::istringstream s(line);
      std::string word, tgt, name, off, eq, value;
      s >> word >> tgt >> name >> off >> eq >> value;
      tasks.back().words.push_back({std::stoull(word, nullptr, 16),
                                    static_cast<uint16_t>(std::stoul(tgt.substr(6, 4), nullptr, 16)),
                                    static_cast<uint16_t>(std::stoul(off.substr(1), nullptr, 16)),
                                    static_cast<uint32_t>(std::stoul(value, nullptr, 16)), name});
    }
  }
  // Blob names appear in the JSON in the same job/task order as the text.
  std::ifstream js(json_path);
  const std::string json((std::istreambuf_iterator<char>(js)), std::istreambuf_iterator<char>());
  const std::regex blob_re("\"regcmd_blob\": \"([^\"]+)\"");
  size_t i = 0;
  const auto end = std::sregex_iterator();
  for (auto it = std::sregex_iterator(json.begin(), json.end(), blob_re); it != end; ++it) {
    if (i < tasks.size()) tasks[i].blob = (json_path.parent_path() / (*it)[1].str()).string();
    ++i;
  }
  EXPECT_EQ(i, tasks.size()) << json_path;
  return tasks;
}

std::vector<uint64_t> read_blob(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint64_t> words;
  unsigned char b[8];
  while (in.read(reinterpret_cast<char*>(b), 8)) {
    uint64_t w = 0;
    for (int k = 7; k >= 0; --k) w = w << 8 | b[k];
    words.push_back(w);
  }
  return words;
}

// Value of the register at `offset` as last written in the task (0 if never).
uint32_t value_of(const GoldenTask& t, uint16_t offset) {
  uint32_t v = 0;
  for (const GoldenWord& w : t.words) {
    if (w.offset == offset && target_name(w.target)) v = w.value;
  }
  return v;
}

void check_task(const GoldenTask& t, const GoldenTask* next) {
  SCOPED_TRACE("job " + std::to_string(t.job) + " task " + std::to_string(t.task));
  ASSERT_EQ(t.words.size(), t.count);
  EXPECT_EQ(read_blob(t.blob), [&] {
    std::vector<uint64_t> w;
    for (const GoldenWord& g : t.words) w.push_back(g.word);
    return w;
  }()) << t.blob;

  for (size_t i = 0; i < t.words.size(); ++i) {
    const GoldenWord& g = t.words[i];
    const RegcmdParts p = unpack_regcmd(g.word);
    EXPECT_EQ(p.target, g.target);
    EXPECT_EQ(p.offset, g.offset);
    EXPECT_EQ(p.value, g.value);
    const bool in_tail = i + kTaskTailWords >= t.words.size();
    const char* block = target_name(p.target);
    if (!block) {  // only the tail's special words have no block target
      EXPECT_TRUE(in_tail) << std::hex << g.word;
      continue;
    }
    const RegisterInfo* r = find_register(p.offset);
    ASSERT_NE(r, nullptr) << "unknown offset 0x" << std::hex << p.offset;
    EXPECT_STREQ(r->block, block) << std::hex << g.word;
    const std::string ours = std::string(r->block) + "_" + r->name;
    const auto alias = kUnlabelled.find(p.offset);
    EXPECT_EQ(ours, g.name == "?" && alias != kUnlabelled.end() ? alias->second : g.name);
    // The fields account for every set bit, and re-packing them gives the value.
    uint32_t covered = 0;
    for (unsigned f = 0; f < r->field_count; ++f) {
      const unsigned width = r->fields[f].hi - r->fields[f].lo + 1u;
      covered |= (width == 32 ? 0xFFFFFFFFu : (1u << width) - 1) << r->fields[f].lo;
    }
    EXPECT_EQ(p.value & ~covered, 0u) << ours << " has bits outside its fields";
  }

  // Tail, rebuilt with the helpers.
  const auto tail = task_tail(t.job_tasks == 1, next ? next->dma : 0, next ? next->count : 0);
  for (size_t k = 0; k < kTaskTailWords; ++k) {
    EXPECT_EQ(tail[k], t.words[t.words.size() - kTaskTailWords + k].word) << "tail word " << k;
  }

  // Facts from rocket.md 2.4 that tie blocks together; they only hold when
  // the field positions are right.
  // v(REG{}): the last value the task wrote to REG.
  auto v = [&t](auto reg) { return value_of(t, decltype(reg)::offset); };
  const uint32_t w = CORE_DATAOUT_SIZE_0::get_DATAOUT_WIDTH(v(CORE_DATAOUT_SIZE_0{}));
  const uint32_t h = CORE_DATAOUT_SIZE_0::get_DATAOUT_HEIGHT(v(CORE_DATAOUT_SIZE_0{}));
  const uint32_t c = CORE_DATAOUT_SIZE_1::get_DATAOUT_CHANNEL(v(CORE_DATAOUT_SIZE_1{}));
  EXPECT_EQ(DPU_WDMA_SIZE_1::get_WIDTH_WDMA(v(DPU_WDMA_SIZE_1{})), w);
  EXPECT_EQ(DPU_WDMA_SIZE_1::get_HEIGHT_WDMA(v(DPU_WDMA_SIZE_1{})), h);
  EXPECT_EQ(DPU_WDMA_SIZE_0::get_CHANNEL_WDMA(v(DPU_WDMA_SIZE_0{})), c);
  EXPECT_EQ(DPU_DATA_CUBE_WIDTH::get_WIDTH(v(DPU_DATA_CUBE_WIDTH{})), w);
  EXPECT_EQ(DPU_DATA_CUBE_HEIGHT::get_HEIGHT(v(DPU_DATA_CUBE_HEIGHT{})), h);
  EXPECT_EQ(DPU_DATA_CUBE_CHANNEL::get_CHANNEL(v(DPU_DATA_CUBE_CHANNEL{})), c);
  using RdmaW = DPU_RDMA_RDMA_DATA_CUBE_WIDTH;
  using RdmaH = DPU_RDMA_RDMA_DATA_CUBE_HEIGHT;
  using RdmaC = DPU_RDMA_RDMA_DATA_CUBE_CHANNEL;
  EXPECT_EQ(RdmaW::get_WIDTH(v(RdmaW{})), w);
  EXPECT_EQ(RdmaH::get_HEIGHT(v(RdmaH{})), h);
  EXPECT_EQ(RdmaC::get_CHANNEL(v(RdmaC{})), c);
  EXPECT_EQ(CNA_DATA_SIZE2::get_DATAOUT_WIDTH(v(CNA_DATA_SIZE2{})), w + 1);
  EXPECT_EQ(CNA_DATA_SIZE3::get_DATAOUT_ATOMICS(v(CNA_DATA_SIZE3{})), (w + 1) * (h + 1));
  const bool depthwise = CNA_CONV_CON1::get_CONV_MODE(v(CNA_CONV_CON1{})) == 3;
  EXPECT_EQ(CORE_MISC_CFG::get_DW_EN(v(CORE_MISC_CFG{})), depthwise ? 1u : 0u);
  EXPECT_EQ(DPU_FEATURE_MODE_CFG::get_CONV_MODE(v(DPU_FEATURE_MODE_CFG{})), depthwise ? 3u : 0u);
}

class RocketRegistersGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(RocketRegistersGolden, EveryCapturedWordDecodes) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const fs::path dir = fs::path(nonstick::testing::shared_dir()) / "goldens/rocket" / GetParam();
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  size_t tasks_checked = 0;
  for (int s = 0;; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "submit_%04d.json", s);
    if (!fs::exists(dir / name)) break;
    const std::vector<GoldenTask> tasks = read_golden_submit(dir / name);
    for (size_t i = 0; i < tasks.size(); ++i) {
      const bool chained = i + 1 < tasks.size() && tasks[i + 1].job == tasks[i].job;
      check_task(tasks[i], chained ? &tasks[i + 1] : nullptr);
      ++tasks_checked;
    }
  }
  EXPECT_GT(tasks_checked, 0u) << "no submits under " << dir;
}

INSTANTIATE_TEST_SUITE_P(Models, RocketRegistersGolden,
                         ::testing::Values("mobilenet_v1_0.25_128_quant",
                                           "mobilenet_v2_1.0_224_quant",
                                           "mobilenet_v1_0.75_192_quant",
                                           "mobilenet_quant_v1_224_head_layers",
                                           "mobilenet_v1_1.0_224_quant_embedding_extractor",
                                           "coco_ssd_mobilenet_v1_1.0_quant_detect"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// ---- (c) the generator refuses malformed XML -------------------------------

struct GenResult {
  int status;
  std::string output;  // stdout and stderr
};

GenResult run_generator(const std::string& xml_path, const std::string& out_path) {
  std::string cmd = std::string("'") + NONSTICK_PYTHON3 + "' '" + NONSTICK_ROCKET_REGS_GEN +
                    "' --xml '" + xml_path + "'";
  if (!out_path.empty()) cmd += " --out '" + out_path + "'";
  GenResult r{-1, {}};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) r.output += buf;
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

// A small valid file (with the registers the tail helpers need) plus one
// extra CNA register `reg_xml`.
std::string xml_with(const std::string& reg_xml) {
  return R"(<registers>
  <block name="PC" code="0x0100" base="0x0000">
    <reg name="OPERATION_ENABLE" offset="0x0008"><field name="OP_EN" lo="0" hi="0" type="bool"/></reg>
    <reg name="BASE_ADDRESS" offset="0x0010"><field name="PC_SOURCE_ADDR" lo="4" hi="31"/></reg>
    <reg name="REGISTER_AMOUNTS" offset="0x0014"><field name="PC_DATA_AMOUNT" lo="0" hi="15"/></reg>
  </block>
  <block name="CNA" code="0x0200" base="0x1000">
    <reg name="CONV_CON1" offset="0x100C"><field name="CONV_MODE" lo="0" hi="3"/></reg>
    )" + reg_xml + R"(
  </block>
  <block name="GLOBAL" base="0xF000">
    <reg name="OPERATION_ENABLE" offset="0xF008">
      <field name="CNA_OP_EN" lo="0" hi="0" type="bool"/>
      <field name="CORE_OP_EN" lo="2" hi="2" type="bool"/>
      <field name="DPU_OP_EN" lo="3" hi="3" type="bool"/>
      <field name="DPU_RDMA_OP_EN" lo="4" hi="4" type="bool"/>
    </reg>
  </block>
</registers>
)";
}

// <reg> at offset 0x1010 named CONV_CON2 unless overridden, with `fields`.
std::string reg_at(const std::string& fields, const std::string& name = "CONV_CON2",
                   const std::string& offset = "0x1010") {
  return "<reg name=\"" + name + "\" offset=\"" + offset + "\">" + fields + "</reg>";
}

TEST(RocketRegisterGenerator, RejectsMalformedXml) {
  char tmpl[] = "/tmp/nonstick_regs_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl, in = dir / "in.xml", out = dir / "out.h";

  std::ofstream(in) << xml_with(reg_at(R"(<field name="A" lo="0" hi="1"/>)"));
  const GenResult good = run_generator(in, out);
  ASSERT_EQ(good.status, 0) << good.output;
  ASSERT_TRUE(fs::exists(out));
  fs::remove(out);

  const std::pair<std::string, const char*> bad[] = {
      {reg_at(R"(<field name="A" lo="0" hi="4"/><field name="B" lo="4" hi="6"/>)"),
       "bit 4 overlaps field A"},
      {reg_at(R"(<field name="A" lo="30" hi="32"/>)"), "outside 0..31"},
      {reg_at(R"(<field name="A" lo="1" hi="2" type="bool"/>)"), "bool field must be exactly one bit"},
      {reg_at(R"(<field name="A" lo="0" hi="1"/>)", "CONV_CON2", "0x100C"),
       "already used by CNA_CONV_CON1"},
      {reg_at(R"(<field name="A" lo="0" hi="1"/>)", "CONV_CON1"), "defined twice"},
      {reg_at(R"(<field name="A" lo="0" hi="1"/>)", "FAR", "0x2010"), "outside block window"},
      {reg_at(R"(<field name="A" low="0" hi="1"/>)"), "unknown attribute 'low'"},
      {reg_at(""), "has no fields"},
      {R"(<reg name="CONV_CON2" offset="0x1010"><field name="A" lo="0" hi="1">)", "mismatched tag"},
  };
  for (const auto& [reg_xml, message] : bad) {
    std::ofstream(in) << xml_with(reg_xml);
    const GenResult r = run_generator(in, out);
    EXPECT_EQ(r.status, 1) << reg_xml << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos)
        << "expected '" << message << "' in:\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << "header written for bad XML: " << reg_xml;
  }
  fs::remove_all(dir);
}

TEST(RocketRegisterGenerator, ProjectXmlValidates) {
  const GenResult r = run_generator(NONSTICK_ROCKET_REGS_XML, "");
  EXPECT_EQ(r.status, 0) << r.output;
}

}  // namespace
}  // namespace nonstick::rocket::reg
