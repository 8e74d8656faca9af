// nonstick: classify an image on TFLite's CPU path and through the delegate,
// inspect per-operation placement, and benchmark both paths.
#include <cstdio>
#include <cstring>
#include <string>

#include "delegate/options.h"
#include "tools/nonstick/cli.h"

namespace {

void usage() {
  std::printf(
      "usage:\n"
      "  nonstick classify --model M --image I --labels L [--iterations N] [--device D] [--threads T] [--exact|--no-exact]\n"
      "  nonstick inspect  --model M [--device D] [--json] [--exact|--no-exact]\n"
      "  nonstick bench    --model M [--iterations N] [--device D] [--threads T] [--exact|--no-exact]\n"
      "  nonstick probe    [--device auto|rocket|virtual] [--json]   RK3588 hardware probes\n"
      "\n"
      "devices: auto (NPU hardware when present, else the virtual RK3588), rocket, reference\n"
      "delegate options (also for tflite.load_delegate):\n%s",
      nonstick::options_help().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "classify") return nonstick::cli::run_classify(argc - 2, argv + 2);
  if (cmd == "inspect") return nonstick::cli::run_inspect(argc - 2, argv + 2);
  if (cmd == "bench") return nonstick::cli::run_bench(argc - 2, argv + 2);
  if (cmd == "probe") return nonstick::cli::run_probe(argc - 2, argv + 2);
  std::fprintf(stderr, "nonstick: unknown command '%s'\n", cmd.c_str());
  usage();
  return 2;
}
