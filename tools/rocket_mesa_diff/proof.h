// The exactness proof (src/backends/rocket/exactness.h) applied to Mesa's
// captured programming of each convolution: for every paired per-tensor
// CONV/DWCONV/FC job without a fused ADD, Mesa's registers and bias BO are
// read into the proof's OUT_CVT-only form, and every accumulator value the
// layer's weights allow is checked against TFLite 2.9 x86's requantization,
// as is nonstick's own encoding of the same op. Input-independent: it says
// how many of TFLite's accumulator values Mesa's stream maps to another
// output, not how many elements of one inference happen to hit them.
//
// Mesa's CORE CLIP_TRUNCATE (accumulator rounded right by one bit before the
// DPU adds the halved bias) has no place in DpuEncoding, so the walk is done
// here over the tool's own NPU function (mesa_npu); without truncation it is
// the proof's function and rocket::check_exactness is used directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/rocket/coefs.h"
#include "tools/rocket_mesa_diff/capture.h"
#include "tools/rocket_mesa_diff/ours.h"
#include "tools/rocket_mesa_diff/replay.h"

namespace nonstick::mesa_diff {

// What one of Mesa's jobs programs after the convolution's MACs.
struct MesaDpu {
  uint32_t truncate = 0;          // CORE_CLIP_TRUNCATE
  // OUT_CVT scale/shift/offset from Mesa's registers, bs_add = Mesa's bias
  // BO (one int32 per real output channel, padded with 0), no multiplier,
  // no BN stage, no clamp (checked: Mesa bypasses every ReLU stage).
  rocket::DpuEncoding encoding;
  // TFLite's accumulator T reaches the DPU as
  //   rhu((T - folded[c]) / 2^truncate) + bs_add[c]
  // (folded: rocket::folded_biases, whose convention Mesa's OW term and
  // weights share; checked: Mesa's weight BO equals pack_weights(op)).
  std::vector<int32_t> folded;
};

// The DPU output (signed int8 domain) of Mesa's stream for accumulator `t`
// of output channel `c`: the virtual RK3588's arithmetic for these
// registers (docs/virtual-rk3588.md §4-§5).
int32_t mesa_npu(const MesaDpu& m, int c, int64_t t);

// TFLite's output (signed domain) for accumulator `t` of channel `c`: the
// op's requantization rule, zero point and activation clamp.
int32_t tflite_output(const rocket::NpuConv& op, int c, int64_t t);

// Reads Mesa's programming of `job` (paired with our `op`) into *out, or
// says why it is outside the proof's form.
bool read_mesa_dpu(const MesaModel& mesa, const JobRecord& job, const rocket::NpuConv& op, MesaDpu* out,
                   std::string* why_not);

// The proof for Mesa's programming: the same walk as rocket::check_exactness
// over mesa_npu (equal to it when truncate == 0).
rocket::Exactness check_mesa_exactness(const rocket::NpuConv& op, const MesaDpu& m);
// mesa_npu walked with rocket::walk_channel, for any truncation (tests
// compare it with rocket::check_exactness where both apply).
rocket::Exactness walk_mesa_exactness(const rocket::NpuConv& op, const MesaDpu& m);

struct LayerProof {
  std::string label;        // Mesa's job label
  bool covered = false;
  std::string why_not;      // when not covered
  rocket::Exactness mesa, ours;
  uint32_t truncate = 0;
  // Mesa's bias words against nonstick's folded biases: channels where
  // bias * 2^truncate != folded, and the largest |folded - bias * 2^truncate|.
  int bias_channels_differing = 0;
  int64_t bias_max_delta = 0;
  // Replay cross-check (one inference, the capture's input): output
  // elements of Mesa's task on the virtual RK3588, how many differ from
  // mesa_npu(T) of their accumulator (must be 0: the construction is
  // faithful), and how many the proof's functions put off TFLite's output.
  bool replayed = false;
  uint64_t replay_elements = 0, replay_model_mismatch = 0, replay_off = 0;
};

struct ModelProof {
  std::vector<LayerProof> layers;  // one per Mesa job
  int covered() const;
  int mesa_exact() const;
  int ours_exact() const;
  // Over covered layers. Each walk counts a class of channels sharing both
  // functions once over the union of their ranges, so N differs slightly
  // between the sides where Mesa truncates (its classes are finer).
  int64_t accumulators() const;
  int64_t ours_accumulators() const;
  int64_t mesa_off() const;
  int64_t ours_off() const;
  const LayerProof* worst_mesa() const;  // most accumulator values off
};

// The proof for every job of `mesa`, paired with our ops by node. With
// `replay`, also replays Mesa's streams on the virtual RK3588 (replay_mesa)
// and fills each covered layer's replay cross-check.
ModelProof prove_model(const MesaModel& mesa, const OurModel& ours, ReplayCounts* replay);

}  // namespace nonstick::mesa_diff
