/* The Box-Muller transform of the DP noise (privacy/dp/_gaussian.py) as one compiled pass.
 *
 * _gaussian.fill_normal_ writes AES-128-CTR bits into a float buffer, then turns them into
 * Gaussians. In torch that transform is a dozen vectorised ops, each one pass over the block;
 * here it is one pass, on the vector maths of the C library (glibc's libmvec: log, cos and sin
 * eight values at a time, AVX2 and FMA), on the calling thread with the interpreter lock
 * released. float32 only: AVX2 has no int64-to-double conversion, so float64 keeps the torch ops.
 * The formulas, layout and operation order are those of the torch ops, so the values agree with
 * them to a few units in the last place (the two libraries' log, cos and sin round differently).
 *
 * One thread, not several: right after a torch op, torch's OpenMP threads keep spinning on the
 * other cores for a while, and a second thread here only competed with them (measured after a
 * matrix product on two cores: 536k values in 1.50 ms on two threads against 1.36 ms on one;
 * transforming a block on a second thread while this one drew the next block's bits, 3.2 ms).
 *
 * Each value depends only on the bits at its position: every block is walked in CHUNK-pair
 * steps from its start, so the vector and scalar paths meet each value at the same place
 * however the buffer is split into ranges.
 *
 * setup.py builds it on x86-64 Linux with glibc only. Compiled by another compiler there (clang:
 * no libmvec vectorisation), the module has no kernel, available() is false, and the torch ops
 * are used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
#define AK_KERNEL 1
#else
#define AK_KERNEL 0
#endif

#if AK_KERNEL

/* glibc declares these vector variants only under -ffast-math; declared here instead, so the
 * rest of this file keeps strict IEEE arithmetic. */
__attribute__((__simd__("notinbranch"))) extern float logf(float);
__attribute__((__simd__("notinbranch"))) extern float cosf(float);
__attribute__((__simd__("notinbranch"))) extern float sinf(float);

/* pairs per inner pass: the radius and angle of CHUNK pairs stay in L1 between the loops */
#define CHUNK 2048

/* the block of `half` pairs at a (radius words) and a + half (angle words) */
__attribute__((target("avx2,fma")))
static void run_f32(float *a, Py_ssize_t half, float std) {
    const float angle_scale = (float)(2.0 * M_PI * 0x1p-32);
    float *b = a + half;
    int32_t *ia = (int32_t *)a, *ib = (int32_t *)b;
    float r[CHUNK], t[CHUNK];
    for (Py_ssize_t c0 = 0; c0 < half; c0 += CHUNK) {
        Py_ssize_t m = half - c0 < CHUNK ? half - c0 : CHUNK;
        int32_t *xa = ia + c0, *xb = ib + c0;
        float *oa = a + c0, *ob = b + c0;
#pragma omp simd
        for (Py_ssize_t j = 0; j < m; j++) {
            float u = ((float)(xa[j] & 0x7fffffff) + 1.0f) * 0x1p-31f; /* (0, 1]: ln u finite */
            r[j] = sqrtf(logf(u) * -2.0f) * std;
            t[j] = (float)xb[j] * angle_scale; /* [-pi, pi) */
        }
#pragma omp simd
        for (Py_ssize_t j = 0; j < m; j++) oa[j] = r[j] * cosf(t[j]);
#pragma omp simd
        for (Py_ssize_t j = 0; j < m; j++) ob[j] = sinf(t[j]) * r[j];
    }
}

/* values [lo, hi) of the buffer at base, in blocks of `block` aligned to its start */
static void run_range(float *base, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t block, float std) {
    for (Py_ssize_t s = lo; s < hi; s += block) {
        Py_ssize_t e = s + block < hi ? s + block : hi;
        run_f32(base + s, (e - s) / 2, std);
    }
}

static int cpu_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#endif /* AK_KERNEL */

static PyObject *available(PyObject *self, PyObject *unused) {
#if AK_KERNEL
    return PyBool_FromLong(cpu_ok());
#else
    Py_RETURN_FALSE;
#endif
}

#if AK_KERNEL
/* None, or why the arguments cannot be used (checked before anything is written) */
static const char *problem_of(Py_buffer *view, int itemsize, Py_ssize_t lo, Py_ssize_t hi,
                              Py_ssize_t block) {
    Py_ssize_t n = itemsize > 0 ? view->len / itemsize : 0;
    if (!cpu_ok())
        return "this CPU lacks AVX2 or FMA";
    if (itemsize != 4)
        return "only float32 (itemsize 4) is supported";
    if (view->len % itemsize || !PyBuffer_IsContiguous(view, 'C'))
        return "the buffer must be contiguous whole values";
    if (((uintptr_t)view->buf) % itemsize)
        return "the buffer must be aligned to its values";
    if (block <= 0 || block % (2 * CHUNK) || lo < 0 || lo > hi || hi > n || lo % block)
        return "lo must be a multiple of block (a multiple of 4096) and lo <= hi <= len";
    if (hi % block && hi != n)
        return "hi must be a multiple of block or the end of the buffer";
    if ((hi - lo) % 2)
        return "the range must hold an even number of values";
    return NULL;
}
#endif

/* transform(buffer, itemsize, lo, hi, block, std) */
static PyObject *transform(PyObject *self, PyObject *args) {
    Py_buffer view;
    int itemsize;
    Py_ssize_t lo, hi, block;
    double std;
    if (!PyArg_ParseTuple(args, "w*innnd", &view, &itemsize, &lo, &hi, &block, &std))
        return NULL;
#if AK_KERNEL
    const char *problem = problem_of(&view, itemsize, lo, hi, block);
    if (problem != NULL) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    run_range((float *)view.buf, lo, hi, block, (float)std);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
#else
    PyBuffer_Release(&view);
    PyErr_SetString(PyExc_RuntimeError, "built without the compiled Box-Muller kernel");
    return NULL;
#endif
}

static PyMethodDef methods[] = {
    {"available", available, METH_NOARGS, "Whether the compiled kernel runs on this machine."},
    {"transform", transform, METH_VARARGS,
     "transform(buffer, itemsize, lo, hi, block, std): Box-Muller in place over the "
     "values [lo, hi) of a buffer of float32 (itemsize 4) holding key-stream "
     "bits, in blocks of `block` values aligned to the buffer's start."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_boxmuller", NULL, -1, methods};

PyMODINIT_FUNC PyInit__boxmuller(void) { return PyModule_Create(&module); }
