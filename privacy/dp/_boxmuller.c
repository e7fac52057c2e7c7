/* The Box-Muller transform of the DP noise (privacy/dp/_gaussian.py) as one compiled pass.
 *
 * _gaussian.fill_normal_ writes AES-128-CTR bits into a float buffer, then turns them into
 * Gaussians. In torch that transform is a dozen vectorised ops, each one pass over the block;
 * here it is one pass, on the vector maths of the C library (glibc's libmvec: log, cos and sin
 * eight values at a time, AVX2 and FMA), on as many threads as asked. float32 only: AVX2 has
 * no int64-to-double conversion, so float64 parameters keep the torch ops.
 * The formulas, layout and operation order are those of the torch ops, so the values agree with
 * them to a few units in the last place (the two libraries' log, cos and sin round differently).
 *
 * Each value depends only on the bits at its position: the work is split among threads at
 * multiples of CHUNK pairs from a block's start, so the vector and scalar paths meet each value
 * at the same place whatever the number of threads.
 *
 * Built only where it can be fast (x86-64, GCC, glibc); elsewhere the module builds without
 * the kernel, available() is false, and the torch ops are used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
#define AK_KERNEL 1
#include <pthread.h>
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

typedef struct {
    char *base;       /* the buffer */
    Py_ssize_t lo, hi, block; /* values [lo, hi), in blocks of `block` aligned to the buffer's start */
    double std;
    int part, parts;  /* this thread's share of every block */
} job_t;

/* pairs [j0, j1) of the block of `half` pairs at a (radius words) and a + half (angle words) */
__attribute__((target("avx2,fma")))
static void run_f32(float *a, Py_ssize_t half, Py_ssize_t j0, Py_ssize_t j1, float std) {
    const float angle_scale = (float)(2.0 * M_PI * 0x1p-32);
    float *b = a + half;
    int32_t *ia = (int32_t *)a, *ib = (int32_t *)b;
    float r[CHUNK], t[CHUNK];
    for (Py_ssize_t c0 = j0; c0 < j1; c0 += CHUNK) {
        Py_ssize_t m = j1 - c0 < CHUNK ? j1 - c0 : CHUNK;
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

static void *run_job(void *arg) {
    job_t *job = (job_t *)arg;
    for (Py_ssize_t s = job->lo; s < job->hi; s += job->block) {
        Py_ssize_t e = s + job->block < job->hi ? s + job->block : job->hi;
        Py_ssize_t half = (e - s) / 2;
        /* this thread's pairs: a share of the block's chunks (whole chunks: see the top) */
        Py_ssize_t chunks = (half + CHUNK - 1) / CHUNK;
        Py_ssize_t j0 = chunks * job->part / job->parts * CHUNK;
        Py_ssize_t j1 = chunks * (job->part + 1) / job->parts * CHUNK;
        if (j1 > half) j1 = half;
        if (j0 >= j1) continue;
        run_f32((float *)job->base + s, half, j0, j1, (float)job->std);
    }
    return NULL;
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

/* transform(buffer, itemsize, lo, hi, block, std, threads) */
static PyObject *transform(PyObject *self, PyObject *args) {
    Py_buffer view;
    int itemsize, threads;
    Py_ssize_t lo, hi, block;
    double std;
    if (!PyArg_ParseTuple(args, "w*innndi", &view, &itemsize, &lo, &hi, &block, &std, &threads))
        return NULL;
#if AK_KERNEL
    Py_ssize_t n = itemsize > 0 ? view.len / itemsize : 0;
    const char *problem = NULL;
    if (!cpu_ok())
        problem = "this CPU lacks AVX2 or FMA";
    else if (itemsize != 4)
        problem = "only float32 (itemsize 4) is supported";
    else if (view.len % itemsize || !PyBuffer_IsContiguous(&view, 'C'))
        problem = "the buffer must be contiguous whole values";
    else if (((uintptr_t)view.buf) % itemsize)
        problem = "the buffer must be aligned to its values";
    else if (block <= 0 || block % (2 * CHUNK) || lo < 0 || lo > hi || hi > n || lo % block)
        problem = "lo must be a multiple of block (a multiple of 4096) and lo <= hi <= len";
    else if (hi % block && hi != n)
        problem = "hi must be a multiple of block or the end of the buffer";
    else if ((hi - lo) % 2)
        problem = "the range must hold an even number of values";
    if (problem != NULL) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    Py_ssize_t pairs_per_block = (hi - lo < block ? hi - lo : block) / 2;
    if (pairs_per_block < 4 * CHUNK) threads = 1; /* too little work to share */
    job_t jobs[64];
    pthread_t tids[64];
    int started = 0;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job_t){(char *)view.buf, lo, hi, block, std, i, threads};
    }
    Py_BEGIN_ALLOW_THREADS
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, run_job, &jobs[i]) != 0) break;
        started = i;
    }
    /* the calling thread takes share 0, and the shares of threads that did not start */
    run_job(&jobs[0]);
    for (int i = started + 1; i < threads; i++) run_job(&jobs[i]);
    for (int i = 1; i <= started; i++) pthread_join(tids[i], NULL);
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
     "transform(buffer, itemsize, lo, hi, block, std, threads): Box-Muller in place over the "
     "values [lo, hi) of a buffer of float32 (itemsize 4) holding key-stream "
     "bits, in blocks of `block` values aligned to the buffer's start."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_boxmuller", NULL, -1, methods};

PyMODINIT_FUNC PyInit__boxmuller(void) { return PyModule_Create(&module); }
