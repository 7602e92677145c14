// Geometry over n float32 points of dimension d, the inner loops of Weiszfeld's geometric median
// (Weiszfeld 1937; as used by BGMD, Data et al. 2021) and Krum (Blanchard et al., NeurIPS 2017):
//  - SqDistances: out[i] = sum_j (points[i][j] - center[j])^2. Cost: 3 flops x n x d.
//  - WeightedSum: out[j] = sum_i weights[i] * points[i][j]. Cost: 2 flops x n x d.
//  - WeiszfeldStep: one whole iteration of the geometric median's solver in one pass over the
//    points: the weighted sum divided by the weights' total (the Weiszfeld point), its squared move
//    from the previous iterate, and every point's squared distance to it (the next iteration's
//    weights), each block of the points read from memory once instead of twice. Cost: 5 flops x n x d.
// All accumulate in double in exactly the order of lib/kernels/js.ts (j ascending for one
// distance, i ascending for one weighted coordinate), so results are bit-identical to JS. The
// speed comes from independent accumulators, not from reassociation: four distances are summed
// side by side (four dependency chains instead of one), and the weighted sum is vectorised across
// coordinates j, in cache-sized column blocks, four points per pass over a block.
#include "kernels.h"

namespace zcoll {
namespace {

template <typename C>
inline __attribute__((always_inline)) void SqDistancesBody(const float* const* points, size_t np,
                                                           const C* center, size_t d, double* out) {
  size_t i = 0;
  for (; i + 4 <= np; i += 4) {
    const float* p0 = points[i];
    const float* p1 = points[i + 1];
    const float* p2 = points[i + 2];
    const float* p3 = points[i + 3];
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t j = 0; j < d; j++) {
      const double c = static_cast<double>(center[j]);
      const double d0 = static_cast<double>(p0[j]) - c;
      const double d1 = static_cast<double>(p1[j]) - c;
      const double d2 = static_cast<double>(p2[j]) - c;
      const double d3 = static_cast<double>(p3[j]) - c;
      a0 += d0 * d0;
      a1 += d1 * d1;
      a2 += d2 * d2;
      a3 += d3 * d3;
    }
    out[i] = a0;
    out[i + 1] = a1;
    out[i + 2] = a2;
    out[i + 3] = a3;
  }
  for (; i < np; i++) {
    const float* p = points[i];
    double acc = 0;
    for (size_t j = 0; j < d; j++) {
      const double diff = static_cast<double>(p[j]) - static_cast<double>(center[j]);
      acc += diff * diff;
    }
    out[i] = acc;
  }
}

// 2048 doubles (16 KiB) of accumulators stay in L1 while every point streams through once.
constexpr size_t kColumns = 2048;

inline __attribute__((always_inline)) void AccumulateColumns(const float* const* points, size_t np,
                                                             const double* weights, size_t j0,
                                                             size_t cols, double* acc) {
  for (size_t c = 0; c < cols; c++) acc[c] = 0;
  size_t i = 0;
  // Four points per pass: each acc[c] still receives w_i * p_i[c] for i ascending, one rounding
  // per add as in JS, but is loaded and stored once per four points instead of once per point.
  for (; i + 4 <= np; i += 4) {
    const float* p0 = points[i] + j0;
    const float* p1 = points[i + 1] + j0;
    const float* p2 = points[i + 2] + j0;
    const float* p3 = points[i + 3] + j0;
    const double w0 = weights[i], w1 = weights[i + 1], w2 = weights[i + 2], w3 = weights[i + 3];
    for (size_t c = 0; c < cols; c++) {
      double a = acc[c];
      a += w0 * static_cast<double>(p0[c]);
      a += w1 * static_cast<double>(p1[c]);
      a += w2 * static_cast<double>(p2[c]);
      a += w3 * static_cast<double>(p3[c]);
      acc[c] = a;
    }
  }
  for (; i < np; i++) {
    const float* p = points[i] + j0;
    const double w = weights[i];
    for (size_t c = 0; c < cols; c++) acc[c] += w * static_cast<double>(p[c]);
  }
}

// Columns per block of WeiszfeldStep: 8192 doubles (64 KiB) of the new point, while the points'
// 32 KiB pieces of the block are read from memory once for the weighted sum and again from L2 for
// the distances. 2048 columns (the L1 block of WeightedSum) measured 10-15 % slower at d = 10M.
constexpr size_t kStepColumns = 8192;
// Floats per cache line: the distance loops prefetch one line of each point's next block per line
// they consume, so the next block's reads from memory overlap this block's arithmetic.
constexpr size_t kLineFloats = 16;

// Squared distances of kRows points (rows[r] + j0 is the block) to the block `o` of the new point,
// each one chain over j carried across blocks in dist[0..kRows). With kMove, the move's chain sum
// (o - prev)^2 rides in the same loop, so its add latency hides behind the distances' work. kRows is
// 4 for the sweeps and 1 for the remaining rows; the constant-size arrays unroll into registers.
template <size_t kRows, bool kMove>
inline __attribute__((always_inline)) void DistanceRows(const float* const* rows, size_t j0, const double* o,
                                                        const double* prev, size_t cols, size_t ahead, double* dist,
                                                        double* move) {
  const float* p[kRows];
  double a[kRows];
  for (size_t r = 0; r < kRows; r++) {
    p[r] = rows[r] + j0;
    a[r] = dist[r];
  }
  double mv = kMove ? *move : 0;
  for (size_t c0 = 0; c0 < cols; c0 += kLineFloats) {
    if (c0 < ahead) {
      for (size_t r = 0; r < kRows; r++) __builtin_prefetch(p[r] + kStepColumns + c0);
    }
    const size_t c1 = cols - c0 < kLineFloats ? cols : c0 + kLineFloats;
    for (size_t c = c0; c < c1; c++) {
      const double y = o[c];
      if (kMove) {
        const double diff = y - prev[c];
        mv += diff * diff;
      }
      for (size_t r = 0; r < kRows; r++) {
        const double e = static_cast<double>(p[r][c]) - y;
        a[r] += e * e;
      }
    }
  }
  for (size_t r = 0; r < kRows; r++) dist[r] = a[r];
  if (kMove) *move = mv;
}

// One call of DistanceRows for rows i .. i + kRows - 1; the first call of a block carries the move.
template <size_t kRows>
inline __attribute__((always_inline)) void DistancesOf(const float* const* points, size_t i, size_t j0, const double* o,
                                                       const double* prev, size_t cols, size_t ahead, double* distances,
                                                       double* move, bool* moved) {
  if (!*moved) {
    DistanceRows<kRows, true>(points + i, j0, o, prev, cols, ahead, distances + i, move);
    *moved = true;
  } else {
    DistanceRows<kRows, false>(points + i, j0, o, prev, cols, ahead, distances + i, move);
  }
}

}  // namespace

ZCOLL_CLONES void SqDistancesF32(const float* const* points, size_t np, const float* center, size_t d,
                                 double* out) {
  SqDistancesBody(points, np, center, d, out);
}
ZCOLL_CLONES void SqDistancesF64(const float* const* points, size_t np, const double* center, size_t d,
                                 double* out) {
  SqDistancesBody(points, np, center, d, out);
}

ZCOLL_CLONES void WeightedSumF32(const float* const* points, size_t np, const double* weights, float* out,
                                 size_t d) {
  double acc[kColumns];
  for (size_t j0 = 0; j0 < d; j0 += kColumns) {
    const size_t cols = d - j0 < kColumns ? d - j0 : kColumns;
    AccumulateColumns(points, np, weights, j0, cols, acc);
    for (size_t c = 0; c < cols; c++) out[j0 + c] = static_cast<float>(acc[c]);
  }
}

ZCOLL_CLONES void WeightedSumF64(const float* const* points, size_t np, const double* weights, double* out,
                                 size_t d) {
  for (size_t j0 = 0; j0 < d; j0 += kColumns) {
    const size_t cols = d - j0 < kColumns ? d - j0 : kColumns;
    AccumulateColumns(points, np, weights, j0, cols, out + j0);
  }
}

ZCOLL_CLONES double WeiszfeldStep(const float* const* points, size_t np, const double* weights, double divisor,
                                  double* out, size_t d, const double* previous, double* distances) {
  double move = 0;
  if (distances != nullptr) {
    for (size_t i = 0; i < np; i++) distances[i] = 0;
  }
  for (size_t j0 = 0; j0 < d; j0 += kStepColumns) {
    const size_t cols = d - j0 < kStepColumns ? d - j0 : kStepColumns;
    double* o = out + j0;
    AccumulateColumns(points, np, weights, j0, cols, o);
    for (size_t c = 0; c < cols; c++) o[c] /= divisor;
    const double* prev = previous != nullptr ? previous + j0 : nullptr;
    if (distances == nullptr || np == 0) {
      if (prev != nullptr) {
        for (size_t c = 0; c < cols; c++) {
          const double diff = o[c] - prev[c];
          move += diff * diff;
        }
      }
      continue;
    }
    // Columns of the next block still to come (0 in the last block: nothing to prefetch).
    const size_t ahead = d - j0 > kStepColumns ? (d - j0 - kStepColumns < kStepColumns ? d - j0 - kStepColumns : kStepColumns) : 0;
    size_t i = 0;
    bool moved = prev == nullptr;  // the move's chain rides in the first loop over this block
    for (; i + 4 <= np; i += 4) DistancesOf<4>(points, i, j0, o, prev, cols, ahead, distances, &move, &moved);
    for (; i < np; i++) DistancesOf<1>(points, i, j0, o, prev, cols, ahead, distances, &move, &moved);
  }
  return move;
}

}  // namespace zcoll
