/* matmul_bound.h — the scale a matrix product's rounding error is measured
 * against, shared by the matmul tests. */
#ifndef LORC_TESTS_MATMUL_BOUND_H
#define LORC_TESTS_MATMUL_BOUND_H

#include "tensor/matmul.h"

/* bound[i * n_out + j] = |bias_j| + Σ_k |w_jk x_ik| plus, for each LoRA term
 * of row i, |scale| · Σ_q |b_jq| · Σ_k |a_qk x_ik|: float rounding errors of
 * output (i, j) are proportional to it. Uses each row's replacement weight
 * when it has one. */
void matmul_magnitude(const lorc_matmul_args *a, double *bound);

#endif
