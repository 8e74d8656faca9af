#include "backends/reference/strided_view.h"

#include <cstring>

namespace nonstick::reference {
namespace {

template <typename T>
class StridedViewKernel final : public Kernel {
 public:
  StridedViewKernel(int input, int output, std::vector<int64_t> row_starts, int64_t row, int64_t step)
      : input_(input), output_(output), row_starts_(std::move(row_starts)), row_(row), step_(step) {}

  void run(const TensorMemory& memory) const override {
    const T* src = memory.get<T>(input_);
    T* dst = memory.get<T>(output_);
    for (int64_t start : row_starts_) {
      const T* from = src + start;
      if (step_ == 1) {
        std::memcpy(dst, from, static_cast<size_t>(row_) * sizeof(T));
      } else {
        for (int64_t j = 0; j < row_; ++j) dst[j] = from[j * step_];
      }
      dst += row_;
    }
  }

 private:
  int input_, output_;
  std::vector<int64_t> row_starts_;  // input offset of each output row
  int64_t row_, step_;               // elements per row, input step within a row
};

}  // namespace

std::vector<int64_t> dense_strides(const std::vector<int32_t>& shape) {
  std::vector<int64_t> stride(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) stride[d - 1] = stride[d] * shape[d];
  return stride;
}

std::unique_ptr<Kernel> make_strided_view(size_t element_size, int input, int output, int64_t base,
                                          const std::vector<int64_t>& counts,
                                          const std::vector<int64_t>& steps) {
  const size_t rank = counts.size();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= counts[d];
  if (rank == 0 || counts[rank - 1] == 0) rows = 0;
  std::vector<int64_t> starts;
  starts.reserve(static_cast<size_t>(rows));
  std::vector<int64_t> index(rank, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset = base;
    for (size_t d = 0; d + 1 < rank; ++d) offset += index[d] * steps[d];
    starts.push_back(offset);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < counts[d]) break;
      index[d] = 0;
    }
  }
  const int64_t row = rank ? counts[rank - 1] : 0;
  const int64_t step = rank ? steps[rank - 1] : 1;
  switch (element_size) {
    case 1: return std::make_unique<StridedViewKernel<uint8_t>>(input, output, std::move(starts), row, step);
    case 2: return std::make_unique<StridedViewKernel<uint16_t>>(input, output, std::move(starts), row, step);
    default:  // 4
      return std::make_unique<StridedViewKernel<uint32_t>>(input, output, std::move(starts), row, step);
  }
}

}  // namespace nonstick::reference
