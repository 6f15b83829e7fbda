/* matmul_bound.c — see matmul_bound.h. */
#include "matmul_bound.h"

#include <math.h>
#include <stdlib.h>

#include "tensor/ops.h"

void matmul_magnitude(const lorc_matmul_args *a, double *bound) {
    const int64_t n_in = a->w->ne[0], n_out = a->w->ne[1];
    int64_t max_r = 1;
    for (int64_t i = 0; a->row_lora && i < a->n_rows; i++)
        for (int k = 0; a->row_lora[i] && k < a->row_lora[i]->n_terms; k++)
            if (a->row_lora[i]->terms[k].a->ne[1] > max_r) max_r = a->row_lora[i]->terms[k].a->ne[1];
    float *row = malloc((size_t)(n_in > max_r ? n_in : max_r) * sizeof(float));
    double *t = malloc((size_t)max_r * sizeof(double));
    if (!row || !t) abort(); /* test code: an allocation failure must not pass as a small bound */
    for (int64_t i = 0; i < a->n_rows; i++) {
        const float *x = a->x + i * n_in;
        const lorc_lora_list *l = a->row_lora ? a->row_lora[i] : NULL;
        const lorc_tensor *w = l && l->replace ? l->replace : a->w;
        for (int64_t j = 0; j < n_out; j++) {
            lorc_tensor_row_f32(w, j, row);
            double s = a->bias ? fabs(a->bias[j]) : 0;
            for (int64_t k = 0; k < n_in; k++) s += fabs((double)row[k] * x[k]);
            bound[i * n_out + j] = s;
        }
        for (int tm = 0; l && tm < l->n_terms; tm++) {
            const lorc_lora_term *term = &l->terms[tm];
            const int64_t r = term->a->ne[1];
            for (int64_t q = 0; q < r; q++) {
                lorc_tensor_row_f32(term->a, q, row);
                double s = 0;
                for (int64_t k = 0; k < n_in; k++) s += fabs((double)row[k] * x[k]);
                t[q] = s;
            }
            for (int64_t j = 0; j < n_out; j++) {
                lorc_tensor_row_f32(term->b, j, row);
                double s = 0;
                for (int64_t q = 0; q < r; q++) s += fabs((double)row[q]) * t[q];
                bound[i * n_out + j] += fabs(term->scale) * s;
            }
        }
    }
    free(row);
    free(t);
}
