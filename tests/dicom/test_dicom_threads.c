/* Concurrent DICOM decoding: 4 threads start together (so the first calls race
 * for DCMTK's one-time codec registration) and decode every fixture of
 * manifest.txt several times; every result must equal the committed
 * reference. Run under ThreadSanitizer by tools/ci_robustness.sh (tsan). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dicom_io.h"
#include "test_util.h"

#define THREADS 4
#define ROUNDS 3
#define MAX_FILES 64

typedef struct fixture {
    uint8_t *dcm, *gray;
    size_t len, npix;
} fixture;

static fixture files[MAX_FILES];
static int nfiles;
static pthread_barrier_t start;

static uint8_t *load(const char *name, const char *ext, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "dicom/%s%s", name, ext);
    return tu_read_file(tu_fixture(rel), len);
}

static void *worker(void *arg)
{
    long bad = 0;
    (void)arg;
    pthread_barrier_wait(&start);
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < nfiles; i++) {
            cc_err e;
            cc_image img;
            if (cc_dicom_decode_gray(files[i].dcm, files[i].len, &img, NULL, &e) != COVIDCAM_OK) {
                bad++;
                continue;
            }
            if ((size_t)img.width * img.height != files[i].npix ||
                memcmp(img.pixels, files[i].gray, files[i].npix) != 0)
                bad++;
            cc_image_free(&img);
        }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    char rel[64];
    snprintf(rel, sizeof rel, "dicom/manifest.txt");
    FILE *f = fopen(tu_fixture(rel), "r");
    assert_non_null(f);
    char line[512], name[96];
    while (nfiles < MAX_FILES && fgets(line, sizeof line, f))
        if (sscanf(line, "%95s", name) == 1) {
            fixture *x = &files[nfiles++];
            x->dcm = load(name, ".dcm", &x->len);
            x->gray = load(name, ".gray", &x->npix);
            assert_non_null(x->dcm);
            assert_non_null(x->gray);
        }
    fclose(f);
    assert_true(nfiles >= 25);
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    long bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(bad, 0);
    for (int i = 0; i < nfiles; i++) {
        free(files[i].dcm);
        free(files[i].gray);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_threads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
