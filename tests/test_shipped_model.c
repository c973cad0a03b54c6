/* The shipped model (the one .safetensors file in models/) loads, carries the
 * metadata the model card relies on (four classes, a calibration temperature,
 * layer4 maps of at least 7 x 7, out-of-distribution statistics), and
 * classifies the validation images listed in tests/shipped_model_images.txt,
 * PNG and JPEG, as their class with high confidence and without a flag or a
 * warning (tools/pick_selftest.py chose them). A guard for loading and the
 * whole decoding pipeline; docs/model-card.md reports accuracy. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "covidcam.h"
#include "test_util.h"

#define NCLASS 4

static char model_path[8192];

static int find_model(void)
{
    char dir[4096];
    const char *src = getenv("CC_SOURCE_ROOT");
    snprintf(dir, sizeof dir, "%s/models", src ? src : ".");
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 12 && strcmp(de->d_name + l - 12, ".safetensors") == 0) {
            snprintf(model_path, sizeof model_path, "%s/%s", dir, de->d_name);
            found++;
        }
    }
    if (d)
        closedir(d);
    return found;
}

static void test_metadata(void **state)
{
    (void)state;
    assert_int_equal(find_model(), 1); /* exactly one shipped model */
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_model_load(model_path, &m, err, sizeof err) != COVIDCAM_OK)
        fail_msg("%s", err);
    assert_int_equal(covidcam_model_num_classes(m), NCLASS);
    assert_int_equal(covidcam_model_class_index(m, "COVID"), 0);
    assert_int_equal(covidcam_model_class_index(m, "Normal"), 1);
    assert_int_equal(covidcam_model_class_index(m, "Tuberculosis"), 2);
    assert_int_equal(covidcam_model_class_index(m, "ViralPneumonia"), 3);
    assert_true(covidcam_model_input_size(m) >= 224); /* layer4 maps >= 7 x 7 */
    /* calibrated: a fitted temperature, not the default 1 */
    assert_non_null(covidcam_model_metadata(m, "temperature"));
    assert_true(covidcam_model_temperature(m) != 1.0f);
    assert_non_null(covidcam_model_metadata(m, "training"));
    assert_non_null(covidcam_model_metadata(m, "mean"));
    assert_int_equal(covidcam_model_has_ood(m), 1);
    covidcam_model_free(m);
}

static void test_selected_images(void **state)
{
    (void)state;
    if (!tu_have_shared())
        skip();
    assert_int_equal(find_model(), 1);
    char list[4096];
    snprintf(list, sizeof list, "%s/tests/shipped_model_images.txt",
             getenv("CC_SOURCE_ROOT") ? getenv("CC_SOURCE_ROOT") : ".");
    FILE *f = fopen(list, "r");
    assert_non_null(f);
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    assert_int_equal(covidcam_model_load(model_path, &m, err, sizeof err), COVIDCAM_OK);
    assert_int_equal(covidcam_session_create(m, NULL, &s, err, sizeof err), COVIDCAM_OK);
    char line[1024], cls[128], rel[768];
    int per_class[NCLASS] = {0}, per_format[4] = {0};
    /* CC_SHIPPED_STEP=N: every N-th listed image only (the valgrind stage,
     * where one image of this model takes about 40 s); the list is grouped
     * by class and format in threes, so a step of up to 3 keeps one of each. */
    const char *step_env = getenv("CC_SHIPPED_STEP");
    int step = step_env ? atoi(step_env) : 1, listed = 0;
    if (step < 1 || step > 3)
        step = 1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%127s %767s", cls, rel) != 2)
            continue;
        if (listed++ % step)
            continue;
        int want = covidcam_model_class_index(m, cls);
        assert_true(want >= 0);
        float probs[NCLASS];
        int top = -1;
        covidcam_status st = covidcam_classify_file(s, tu_shared(rel), probs, NULL, NCLASS, &top);
        if (st != COVIDCAM_OK)
            fail_msg("%s: %s", rel, covidcam_session_last_error(s));
        covidcam_image_info info;
        covidcam_image_info_init(&info);
        assert_int_equal(covidcam_session_image_info(s, &info), COVIDCAM_OK);
        assert_true(info.format >= 0 && info.format < 4);
        per_format[info.format]++;
        if (top != want || probs[want] < 0.9f)
            fail_msg("%s: predicted %s (p=%.3f), expected %s", rel,
                     covidcam_model_class_name(m, top), probs[top], cls);
        covidcam_assessment a;
        covidcam_assessment_init(&a);
        assert_int_equal(covidcam_session_assessment(s, &a), COVIDCAM_OK);
        if (a.ood || a.warnings)
            fail_msg("%s: flagged (ood %d, score %.1f > %.1f, warnings 0x%x)", rel, a.ood,
                     a.ood_score, a.ood_threshold, a.warnings);
        per_class[want]++;
    }
    fclose(f);
    for (int c = 0; c < NCLASS; c++)
        assert_true(per_class[c] >= (3 + step - 1) / step);
    assert_true(per_format[COVIDCAM_FORMAT_PNG] >= (3 + step - 1) / step);
    assert_true(per_format[COVIDCAM_FORMAT_JPEG] >= (2 + step - 1) / step);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_selected_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
