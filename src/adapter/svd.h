/* svd.h — truncated singular value decomposition of a dense F32 matrix, for
 * `lorc extract` (fine-tune difference -> LoRA). Randomized subspace
 * iteration finds the dominant subspace; one-sided Jacobi diagonalizes the
 * small projected matrix. Exact on rank-deficient input (zero vectors pad). */
#ifndef LORC_ADAPTER_SVD_H
#define LORC_ADAPTER_SVD_H

#include <stdint.h>

#include "lorc.h"

/* M is m×n row-major. On success M ≈ U·diag(S)·Vt with
 *   U  m×r row-major (orthonormal columns),
 *   S  r singular values, descending,
 *   Vt r×n row-major (orthonormal rows);
 * singular triplets beyond M's numerical rank come out as zeros. The result
 * is deterministic (fixed internal seed). r >= 1; r may exceed min(m, n). */
lorc_status lorc_svd_truncated(const float *M, int64_t m, int64_t n, int r, double *U, double *S, double *Vt,
                               lorc_error *err);

/* ‖M − B·A‖_F / ‖M‖_F for B m×r and A r×n (row-major), in double. When M is
 * 0 it is undefined: NaN (Inf when B·A is not 0); never a misleading 0. */
double lorc_lowrank_rel_error(const float *M, int64_t m, int64_t n, const float *B, const float *A, int r);

#endif
