/* Real chest X-rays from the shared data set (never copied into the repo)
 * through the untrained basic fixture: the answer must be well formed and the
 * same whichever way the image is handed over. Skipped when the data is absent.
 * Class folders are discovered, not assumed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "api_util.h"
#include "covidcam.h"
#include "png_io.h"
#include "test_util.h"

#define PER_CLASS 3
#define MAX_DIRS 64
#define MAXC 16

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sub-directories of val/, sorted; returns how many (malloc'd full paths). */
static int class_dirs(char **dirs, int max)
{
    const char *val = tu_shared("val");
    size_t vlen = strlen(val);
    char *root = strdup(val);
    DIR *d = opendir(root);
    int n = 0;
    struct dirent *de;
    while (d && n < max && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t l = vlen + strlen(de->d_name) + 2;
        char *p = malloc(l);
        snprintf(p, l, "%s/%s", root, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            dirs[n++] = p;
        else
            free(p);
    }
    if (d)
        closedir(d);
    free(root);
    qsort(dirs, (size_t)n, sizeof *dirs, cmp_str);
    return n;
}

static void check_answer(const char *path, const float *p, const float *l, int top, int nc)
{
    double sum = 0, mx = l[0];
    int best = 0;
    for (int i = 0; i < nc; i++) {
        if (!isfinite(l[i]) || !isfinite(p[i]))
            fail_msg("%s: class %d: logit %g, probability %g", path, i, l[i], p[i]);
        assert_true(p[i] >= 0 && p[i] <= 1);
        sum += p[i];
        if (l[i] > l[best])
            best = i;
        if (l[i] > mx)
            mx = l[i];
    }
    if (fabs(sum - 1) > 1e-5)
        fail_msg("%s: probabilities sum to %.9f", path, sum);
    assert_int_equal(top, best);
    /* probabilities are the softmax of the logits */
    double z = 0;
    for (int i = 0; i < nc; i++)
        z += exp((double)l[i] - mx);
    for (int i = 0; i < nc; i++)
        assert_true(fabs(p[i] - exp((double)l[i] - mx) / z) < 1e-6);
}

static void classify_three_ways(covidcam_session *s, const char *path, int nc, int *checked)
{
    float p1[MAXC], l1[MAXC], p2[MAXC], l2[MAXC], p3[MAXC], l3[MAXC];
    int t1 = -1, t2 = -1, t3 = -1;
    covidcam_status st = covidcam_classify_file(s, path, p1, l1, MAXC, &t1);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(s));
    check_answer(path, p1, l1, t1, nc);

    size_t len = 0;
    unsigned char *png = tu_read_file(path, &len);
    assert_non_null(png);
    st = covidcam_classify_png(s, png, len, p2, l2, MAXC, &t2);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(s));
    assert_memory_equal(l1, l2, (size_t)nc * sizeof *l1);
    assert_memory_equal(p1, p2, (size_t)nc * sizeof *p1);
    assert_int_equal(t1, t2);

    cc_image img = {0};
    assert_int_equal(cc_png_decode_gray(png, len, &img, NULL), COVIDCAM_OK);
    st = covidcam_classify_pixels(s, img.pixels, img.width, img.height, (size_t)img.width, p3, l3,
                                  MAXC, &t3);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(s));
    assert_memory_equal(l1, l3, (size_t)nc * sizeof *l1);
    assert_int_equal(t1, t3);
    cc_image_free(&img);
    free(png);
    (*checked)++;
}

static void test_val_images(void **state)
{
    (void)state;
    if (!tu_have_shared()) {
        print_message("shared data %s not found: skipping the real-image test\n",
                      tu_shared("val"));
        skip();
    }
    covidcam_model *m = au_load("basic.safetensors");
    covidcam_session *s = au_session(m, 0);
    int nc = covidcam_model_num_classes(m);
    assert_true(nc <= MAXC);
    char *dirs[MAX_DIRS];
    int nd = class_dirs(dirs, MAX_DIRS), checked = 0;
    assert_true(nd > 0);
    for (int d = 0; d < nd; d++) {
        char *files[PER_CLASS];
        int n = tu_list_pngs(dirs[d], files, PER_CLASS);
        if (n == 0)
            fail_msg("no PNG in %s", dirs[d]);
        for (int i = 0; i < n; i++) {
            classify_three_ways(s, files[i], nc, &checked);
            free(files[i]);
        }
        free(dirs[d]);
    }
    print_message("checked %d images from %d class folders\n", checked, nd);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_val_images),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* 77 makes meson report SKIP rather than a pass that checked nothing */
    return failed ? failed : tu_have_shared() ? 0 : 77;
}
