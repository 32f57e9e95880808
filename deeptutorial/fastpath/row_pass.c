/* One pass over the rows of a weight matrix: a matrix-vector product and up to two rank-1
 * updates of the same matrix, with each row read once (row_pass.py).
 *
 * W is m x n with strides s0, s1 (in elements). For each row i, in order:
 *
 *   product DT_ROWS:  g[i] = beta z[i] + alpha (W[i, :] . x)        x: n entries, g, z: m
 *   product DT_COLS:  acc += x[i] W[i, :]   (skipped when x[i] == 0) x: m entries, g, z: n
 *                     (without an update, eight rows at a time)
 *   update:           W[i, :] += (c1 u1[i]) v1 + (c2 u2[i]) v2     (skipped when both
 *                                                                   coefficients are 0)
 *
 * and at the end, for DT_COLS, g = beta z + alpha acc. The product reads each row before the
 * update writes it, so it sees W as it was. beta == 0 means z is not read (as in BLAS).
 *
 * With `threads` > 1 every thread takes the same block of rows at every call (OpenMP's static
 * schedule), so a block that fits in one core's cache stays there from step to step. DT_COLS
 * sums into one accumulator per thread (`scratch`, threads x n), added up at the end.
 *
 * Every vector is contiguous (the op makes it so). Reductions use `omp simd`: GCC vectorises
 * a floating-point sum only when it may reorder it, which `-ffast-math` would allow
 * everywhere; the pragma allows it in these loops alone.
 */

#define DT_ROWS 1
#define DT_COLS 2
/* Fewest matrix entries for the pass to be split over threads (a 256 x 256 matrix). */
#define DT_ROW_PASS_MIN_SPLIT 65536

#define DT_DEFINE_ROW_PASS(NAME, T)                                                            \
    /* acc += x[i] W[i, :] over rows [r0, r1), eight nonzero rows at a time: the accumulator \
     * is loaded and stored once per eight rows instead of once per row. */                   \
    static void NAME##_cols(const T *W, npy_intp r0, npy_intp r1, npy_intp n, npy_intp s0,     \
                            npy_intp s1, const T *x, T *acc)                                   \
    {                                                                                          \
        npy_intp rows[8];                                                                      \
        int found = 0;                                                                         \
        for (npy_intp i = r0; i < r1; ++i) {                                                   \
            if (x[i] == 0)                                                                     \
                continue;                                                                      \
            rows[found++] = i;                                                                 \
            if (found < 8)                                                                     \
                continue;                                                                      \
            found = 0;                                                                         \
            const T *w0 = W + rows[0] * s0, *w1 = W + rows[1] * s0, *w2 = W + rows[2] * s0,    \
                    *w3 = W + rows[3] * s0, *w4 = W + rows[4] * s0, *w5 = W + rows[5] * s0,    \
                    *w6 = W + rows[6] * s0, *w7 = W + rows[7] * s0;                            \
            T x0 = x[rows[0]], x1 = x[rows[1]], x2 = x[rows[2]], x3 = x[rows[3]],              \
              x4 = x[rows[4]], x5 = x[rows[5]], x6 = x[rows[6]], x7 = x[rows[7]];              \
            if (s1 == 1) {                                                                     \
                _Pragma("omp simd")                                                            \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    acc[j] += (x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]) +            \
                              (x4 * w4[j] + x5 * w5[j] + x6 * w6[j] + x7 * w7[j]);             \
            } else {                                                                           \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    acc[j] += (x0 * w0[j * s1] + x1 * w1[j * s1] + x2 * w2[j * s1] +           \
                               x3 * w3[j * s1]) + (x4 * w4[j * s1] + x5 * w5[j * s1] +         \
                                                   x6 * w6[j * s1] + x7 * w7[j * s1]);         \
            }                                                                                  \
        }                                                                                      \
        for (int k = 0; k < found; ++k) {                                                      \
            const T *w = W + rows[k] * s0;                                                     \
            T xk = x[rows[k]];                                                                 \
            for (npy_intp j = 0; j < n; ++j)                                                   \
                acc[j] += xk * w[j * s1];                                                      \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    /* W[i, :] += a1 v1 (+ a2 v2) for one row. */                                              \
    static inline void NAME##_update(T *row, npy_intp n, npy_intp s1, int n_terms, T a1,       \
                                     const T *v1, T a2, const T *v2)                           \
    {                                                                                          \
        if (n_terms == 2 && (a1 != 0 || a2 != 0)) {                                            \
            if (s1 == 1) {                                                                     \
                _Pragma("omp simd")                                                            \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    row[j] += a1 * v1[j] + a2 * v2[j];                                         \
            } else {                                                                           \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    row[j * s1] += a1 * v1[j] + a2 * v2[j];                                    \
            }                                                                                  \
        } else if (n_terms == 1 && a1 != 0) {                                                  \
            if (s1 == 1) {                                                                     \
                _Pragma("omp simd")                                                            \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    row[j] += a1 * v1[j];                                                      \
            } else {                                                                           \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    row[j * s1] += a1 * v1[j];                                                 \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    /* Four contiguous rows, every one of them updated: the product's share and the update   \
     * in one loop, each entry of W loaded once and stored once, x and v loaded once for all   \
     * four rows. Returns 0, doing nothing, when a row's update coefficients are all zero: the \
     * caller then takes the rows one at a time and leaves that row untouched. */              \
    static inline int NAME##_group(T **w, npy_intp i, npy_intp n, int n_terms, T c1,           \
                                   const T *u1, const T *v1, T c2, const T *u2, const T *v2,   \
                                   int product, T alpha, const T *x, T beta, const T *z, T *g) \
    {                                                                                          \
        T a[4], b[4];                                                                          \
        for (int k = 0; k < 4; ++k) {                                                          \
            a[k] = c1 * u1[i + k];                                                             \
            b[k] = n_terms == 2 ? c2 * u2[i + k] : (T)0;                                       \
            if (a[k] == 0 && b[k] == 0)                                                        \
                return 0;                                                                      \
        }                                                                                      \
        T *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];                                      \
        T a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = b[0], b1 = b[1], b2 = b[2],         \
          b3 = b[3];                                                                           \
        if (product == DT_ROWS) {                                                              \
            T d0 = 0, d1 = 0, d2 = 0, d3 = 0;                                                  \
            if (n_terms == 2) {                                                                \
                _Pragma("omp simd reduction(+:d0, d1, d2, d3)")                                \
                for (npy_intp j = 0; j < n; ++j) {                                             \
                    T xj = x[j], p = v1[j], q = v2[j];                                         \
                    T e0 = w0[j], e1 = w1[j], e2 = w2[j], e3 = w3[j];                          \
                    d0 += e0 * xj; d1 += e1 * xj; d2 += e2 * xj; d3 += e3 * xj;                \
                    w0[j] = e0 + (a0 * p + b0 * q); w1[j] = e1 + (a1 * p + b1 * q);            \
                    w2[j] = e2 + (a2 * p + b2 * q); w3[j] = e3 + (a3 * p + b3 * q);            \
                }                                                                              \
            } else {                                                                           \
                _Pragma("omp simd reduction(+:d0, d1, d2, d3)")                                \
                for (npy_intp j = 0; j < n; ++j) {                                             \
                    T xj = x[j], p = v1[j];                                                    \
                    T e0 = w0[j], e1 = w1[j], e2 = w2[j], e3 = w3[j];                          \
                    d0 += e0 * xj; d1 += e1 * xj; d2 += e2 * xj; d3 += e3 * xj;                \
                    w0[j] = e0 + a0 * p; w1[j] = e1 + a1 * p;                                  \
                    w2[j] = e2 + a2 * p; w3[j] = e3 + a3 * p;                                  \
                }                                                                              \
            }                                                                                  \
            T d[4] = {d0, d1, d2, d3};                                                         \
            for (int k = 0; k < 4; ++k)                                                        \
                g[i + k] = (beta == 0 ? (T)0 : beta * z[i + k]) + alpha * d[k];                \
        } else if (n_terms == 2) {                                                             \
            _Pragma("omp simd")                                                                \
            for (npy_intp j = 0; j < n; ++j) {                                                 \
                T p = v1[j], q = v2[j];                                                        \
                w0[j] += a0 * p + b0 * q; w1[j] += a1 * p + b1 * q;                            \
                w2[j] += a2 * p + b2 * q; w3[j] += a3 * p + b3 * q;                            \
            }                                                                                  \
        } else {                                                                               \
            _Pragma("omp simd")                                                                \
            for (npy_intp j = 0; j < n; ++j) {                                                 \
                T p = v1[j];                                                                   \
                w0[j] += a0 * p; w1[j] += a1 * p; w2[j] += a2 * p; w3[j] += a3 * p;            \
            }                                                                                  \
        }                                                                                      \
        return 1;                                                                              \
    }                                                                                          \
                                                                                               \
    /* Rows [r0, r1) in groups of up to four: the group's products first (four independent    \
     * sums, sharing the loads of x or of the accumulator), then its updates, while the rows   \
     * are still in the core's first-level cache. */                                           \
    static void NAME##_block(T *W, npy_intp r0, npy_intp r1, npy_intp n, npy_intp s0,          \
                             npy_intp s1, int n_terms, T c1, const T *u1, const T *v1, T c2,   \
                             const T *u2, const T *v2, int product, T alpha, const T *x,       \
                             T beta, const T *z, T *g, T *acc)                                 \
    {                                                                                          \
        if (n_terms == 0 && product == DT_COLS) {                                              \
            NAME##_cols(W, r0, r1, n, s0, s1, x, acc);                                         \
            return;                                                                            \
        }                                                                                      \
        for (npy_intp i = r0; i < r1; i += 4) {                                                \
            int rows = r1 - i < 4 ? (int)(r1 - i) : 4;                                         \
            T *w[4];                                                                           \
            for (int k = 0; k < 4; ++k)                                                        \
                w[k] = W + (i + (k < rows ? k : 0)) * s0;                                      \
            if (rows == 4 && s1 == 1 && n_terms > 0 && product != DT_COLS &&                   \
                NAME##_group(w, i, n, n_terms, c1, u1, v1, c2, u2, v2, product, alpha, x,      \
                             beta, z, g))                                                      \
                continue;                                                                      \
            if (product == DT_ROWS) {                                                          \
                T d0 = 0, d1 = 0, d2 = 0, d3 = 0;                                              \
                const T *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];                        \
                if (s1 == 1) {                                                                 \
                    _Pragma("omp simd reduction(+:d0, d1, d2, d3)")                            \
                    for (npy_intp j = 0; j < n; ++j) {                                         \
                        d0 += w0[j] * x[j];                                                    \
                        d1 += w1[j] * x[j];                                                    \
                        d2 += w2[j] * x[j];                                                    \
                        d3 += w3[j] * x[j];                                                    \
                    }                                                                          \
                } else {                                                                       \
                    for (npy_intp j = 0; j < n; ++j) {                                         \
                        d0 += w0[j * s1] * x[j];                                               \
                        d1 += w1[j * s1] * x[j];                                               \
                        d2 += w2[j * s1] * x[j];                                               \
                        d3 += w3[j * s1] * x[j];                                               \
                    }                                                                          \
                }                                                                              \
                T d[4] = {d0, d1, d2, d3};                                                     \
                for (int k = 0; k < rows; ++k)                                                 \
                    g[i + k] = (beta == 0 ? (T)0 : beta * z[i + k]) + alpha * d[k];            \
            } else if (product == DT_COLS) {                                                   \
                T x0 = x[i], x1 = rows > 1 ? x[i + 1] : 0, x2 = rows > 2 ? x[i + 2] : 0,       \
                  x3 = rows > 3 ? x[i + 3] : 0;                                                \
                const T *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];                        \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    acc[j] += x0 * w0[j * s1] + x1 * w1[j * s1] + x2 * w2[j * s1] +            \
                              x3 * w3[j * s1];                                                 \
            }                                                                                  \
            for (int k = 0; k < rows; ++k)                                                     \
                NAME##_update(w[k], n, s1, n_terms, n_terms >= 1 ? c1 * u1[i + k] : (T)0,      \
                              v1, n_terms >= 2 ? c2 * u2[i + k] : (T)0, v2);                   \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    /* scratch: threads x n entries when product == DT_COLS, else unused. */                   \
    static void NAME(T *W, npy_intp m, npy_intp n, npy_intp s0, npy_intp s1, int n_terms,      \
                     T c1, const T *u1, const T *v1, T c2, const T *u2, const T *v2,           \
                     int product, T alpha, const T *x, T beta, const T *z, T *g, T *scratch,   \
                     int threads)                                                              \
    {                                                                                          \
        if (threads > 1 && (double)m * n < DT_ROW_PASS_MIN_SPLIT)                              \
            threads = 1;                                                                       \
        if (threads > m)                                                                       \
            threads = m > 0 ? (int)m : 1;                                                      \
        if (product == DT_COLS)                                                                \
            memset(scratch, 0, sizeof(T) * (size_t)threads * (size_t)n);                       \
        if (threads <= 1) {                                                                    \
            NAME##_block(W, 0, m, n, s0, s1, n_terms, c1, u1, v1, c2, u2, v2, product, alpha,  \
                         x, beta, z, g, scratch);                                              \
        } else {                                                                               \
            _Pragma("omp parallel num_threads(threads)")                                       \
            {                                                                                  \
                int t = omp_get_thread_num(), nt = omp_get_num_threads();                      \
                npy_intp r0 = m * t / nt, r1 = m * (t + 1) / nt;                               \
                NAME##_block(W, r0, r1, n, s0, s1, n_terms, c1, u1, v1, c2, u2, v2, product,   \
                             alpha, x, beta, z, g, scratch + (npy_intp)t * n);                 \
            }                                                                                  \
        }                                                                                      \
        if (product == DT_COLS) {                                                              \
            for (int t = 1; t < threads; ++t) {                                                \
                const T *part = scratch + (npy_intp)t * n;                                     \
                _Pragma("omp simd")                                                            \
                for (npy_intp j = 0; j < n; ++j)                                               \
                    scratch[j] += part[j];                                                     \
            }                                                                                  \
            for (npy_intp j = 0; j < n; ++j)                                                   \
                g[j] = (beta == 0 ? (T)0 : beta * z[j]) + alpha * scratch[j];                  \
        }                                                                                      \
    }

DT_DEFINE_ROW_PASS(dt_row_pass_float32, npy_float32)
DT_DEFINE_ROW_PASS(dt_row_pass_float64, npy_float64)
