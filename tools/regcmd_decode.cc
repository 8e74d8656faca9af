// regcmd_decode: prints RK3588 NPU regcmd words, one per line, decoded with
// the generated register tables (rocket/registers.h).
//
//   regcmd_decode FILE...
//
// FILE holds little-endian u64 regcmd words, e.g. a golden blob named by a
// task's regcmd_blob in submit_NNNN.json. Each line shows the word, the target
// block, the register, its value and every field as NAME=value; set bits no
// field covers are shown as UNK<bit>=1. The task-tail specials (all-zero word,
// 0x0041 marker, 0x0081 op-enable) are labelled as such. Exit status 1 when a
// word has an unknown target or offset (or a file cannot be read), so scripts
// can use it as a check.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "rocket/registers.h"

namespace {

namespace reg = nonstick::rocket::reg;

// Fields wider than this print in hex: they are addresses or raw words.
constexpr unsigned kHexFieldBits = 17;

std::string format_fields(const reg::FieldInfo* fields, unsigned count, uint32_t value) {
  std::string out;
  uint32_t covered = 0;
  char buf[64];
  for (unsigned i = 0; i < count; ++i) {
    const reg::FieldInfo& f = fields[i];
    const unsigned width = f.hi - f.lo + 1u;
    const uint32_t mask = width == 32 ? 0xFFFFFFFFu : ((1u << width) - 1) << f.lo;
    covered |= mask;
    const uint32_t v = (value & mask) >> f.lo;
    if (width >= kHexFieldBits) {
      std::snprintf(buf, sizeof buf, " %s=0x%" PRIx32, f.name, v);
    } else {
      std::snprintf(buf, sizeof buf, " %s=%" PRIu32, f.name, v);
    }
    out += buf;
  }
  for (unsigned bit = 0; bit < 32; ++bit) {
    if ((value & ~covered) >> bit & 1u) {
      std::snprintf(buf, sizeof buf, " UNK%u=1", bit);
      out += buf;
    }
  }
  return out;
}

// Prints one word; returns false when it could not be identified.
bool print_word(uint64_t word) {
  const reg::RegcmdParts p = reg::unpack_regcmd(word);
  std::printf("%016" PRIx64 "  ", word);
  if (word == 0) {
    std::printf("%-9s %-32s (all-zero word: no next task)\n", "-", "NOP");
    return true;
  }
  if (p.target == reg::kTaskMarkerOp) {
    std::printf("%-9s %-32s [0x%04x] = 0x%08" PRIx32 "\n", "op 0x0041", "TASK_MARKER", p.offset,
                p.value);
    return p.offset == 0 && p.value == 0;
  }
  if (p.target == reg::kOpEnableOp) {
    // The value is a block mask in GLOBAL OPERATION_ENABLE layout (rocket.md 2.2).
    const reg::RegisterInfo* g = reg::find_register(reg::GLOBAL_OPERATION_ENABLE::offset);
    std::printf("%-9s %-32s [0x%04x] = 0x%08" PRIx32 "%s\n", "op 0x0081", "OP_ENABLE", p.offset,
                p.value, format_fields(g->fields, g->field_count, p.value).c_str());
    return p.offset == reg::PC_OPERATION_ENABLE::offset;
  }
  const char* block = reg::target_name(p.target);
  const reg::RegisterInfo* r = reg::find_register(p.offset);
  char target[16];
  std::snprintf(target, sizeof target, "%s", block ? block : "?");
  if (!block) std::snprintf(target, sizeof target, "?0x%04x", p.target);
  std::string name = r ? std::string(r->block) + "_" + r->name : "UNKNOWN";
  std::printf("%-9s %-32s [0x%04x] = 0x%08" PRIx32, target, name.c_str(), p.offset, p.value);
  if (r) std::printf("%s", format_fields(r->fields, r->field_count, p.value).c_str());
  const bool block_matches = r && block && std::string(r->block) == block;
  if (r && block && !block_matches) std::printf("  !! offset belongs to %s", r->block);
  std::printf("\n");
  return block_matches;
}

bool decode_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "regcmd_decode: cannot open %s\n", path);
    return false;
  }
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                         std::istreambuf_iterator<char>());
  if (bytes.size() % 8 != 0) {
    std::fprintf(stderr, "regcmd_decode: %s: size %zu is not a multiple of 8\n", path,
                 bytes.size());
    return false;
  }
  bool ok = true;
  size_t unknown = 0;
  for (size_t i = 0; i < bytes.size(); i += 8) {
    uint64_t word = 0;
    for (int b = 7; b >= 0; --b) word = word << 8 | bytes[i + static_cast<size_t>(b)];
    if (!print_word(word)) ++unknown;
  }
  if (unknown) {
    std::fprintf(stderr, "regcmd_decode: %s: %zu word(s) not identified\n", path, unknown);
    ok = false;
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: %s REGCMD_BLOB.bin...\n", argv[0]);
    return argc < 2 ? 2 : 0;
  }
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    if (argc > 2) std::printf("# %s\n", argv[i]);
    ok = decode_file(argv[i]) && ok;
  }
  return ok ? 0 : 1;
}
