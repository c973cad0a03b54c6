/* The data pipeline: class folders, deterministic splits, the pre-training
 * scan (unreadable images, mean/std), the threaded loader and augmentation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "png_io.h"
#include "preprocess.h"
#include "test_util.h"
#include "train_util.h"
#include "tr_augment.h"
#include "tr_dataset.h"
#include "tr_loader.h"
#include "tr_scan.h"

#define OK(call)                                                                             \
    do {                                                                                     \
        covidcam_status ok_s_ = (call);                                                      \
        if (ok_s_ != COVIDCAM_OK)                                                            \
            fail_msg("%s -> %d: %s", #call, (int)ok_s_, e.msg);                              \
    } while (0)

static void test_classes(void **state)
{
    (void)state;
    cc_err e;
    tr_classes c;
    const char *root = tt_tempdir();
    tt_write_class(root, "beta", 1, 2, 8, 1);
    tt_write_class(root, "alpha", 0, 3, 8, 1);
    tt_write_class(root, "Gamma", 2, 2, 8, 1);
    char p[4096];
    snprintf(p, sizeof p, "%s/notes.txt", root);
    tt_write_bytes(p, "x", 1);
    OK(tr_classes_list(root, &c, &e));
    assert_int_equal(c.n, 3);
    assert_string_equal(c.names[0], "Gamma"); /* byte order: uppercase first */
    assert_string_equal(c.names[1], "alpha");
    assert_string_equal(c.names[2], "beta");
    /* Only PNG files count; hidden files are skipped; .PNG is a PNG. */
    snprintf(p, sizeof p, "%s/alpha/.hidden.png", root);
    tt_write_bytes(p, "x", 1);
    snprintf(p, sizeof p, "%s/alpha/readme.md", root);
    tt_write_bytes(p, "x", 1);
    snprintf(p, sizeof p, "%s/alpha/002.png", root);
    char q[4096];
    snprintf(q, sizeof q, "%s/alpha/UPPER.PNG", root);
    rename(p, q);
    tr_split s;
    OK(tr_split_list(root, &c, 0, &s, &e));
    assert_int_equal(s.n, 7);
    assert_int_equal(s.items[0].label, 0);
    assert_int_equal(s.items[2].label, 1);
    assert_non_null(strstr(s.items[4].path, "UPPER.PNG"));
    tr_split_free(&s);
    /* Another tree with different class folders is refused. */
    const char *other = tt_tempdir();
    tt_write_class(other, "alpha", 0, 1, 8, 1);
    tt_write_class(other, "beta", 1, 1, 8, 1);
    assert_int_equal(tr_split_list(other, &c, 0, &s, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "Gamma"));
    tr_classes_free(&c);
    tt_rmtree(root);
    tt_rmtree(other);
}

static void test_class_errors(void **state)
{
    (void)state;
    cc_err e;
    tr_classes c;
    tr_split s;
    const char *root = tt_tempdir();
    tt_write_class(root, "only", 0, 3, 8, 1);
    assert_int_equal(tr_classes_list(root, &c, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "at least two"));
    tt_mkdir(root, "empty");
    OK(tr_classes_list(root, &c, &e));
    assert_int_equal(tr_split_list(root, &c, 0, &s, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "empty"));
    assert_non_null(strstr(e.msg, "no images"));
    /* A test tree may have an empty class. */
    OK(tr_split_list(root, &c, 1, &s, &e));
    assert_int_equal(s.n, 3);
    tr_split_free(&s);
    tr_classes_free(&c);
    assert_int_equal(tr_classes_list("/nonexistent/cc", &c, &e), COVIDCAM_ERR_IO);
    tt_rmtree(root);
}

/* Class names come from folder names, so a folder name the library's loader
 * would refuse as a class name (model_meta.h: control characters, over 255
 * bytes) is refused at scan time, naming the folder without echoing the
 * control byte. */
static void test_class_folder_names(void **state)
{
    (void)state;
    cc_err e;
    tr_classes c;
    const char *root = tt_tempdir();
    tt_mkdir(root, "Normal");
    tt_mkdir(root, "CO\x1b[2JVID");
    assert_int_equal(tr_classes_list(root, &c, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "class folder 'CO?[2JVID' has a control character at byte 2"));
    assert_null(strchr(e.msg, 0x1b));
    tt_rmtree(root);

    root = tt_tempdir();
    tt_mkdir(root, "Normal");
    tt_mkdir(root, "Viral\xc2\x9bPneumonia"); /* C1 CSI in UTF-8 */
    assert_int_equal(tr_classes_list(root, &c, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "control character at byte 5"));
    tt_rmtree(root);

    root = tt_tempdir();
    char name[250];
    memset(name, 'x', sizeof name - 1); /* 249 bytes: a legal class name (NAME_MAX is 255) */
    name[sizeof name - 1] = '\0';
    tt_mkdir(root, name);
    tt_mkdir(root, "Caf\xc3\xa9"); /* printable UTF-8 stays a class name */
    OK(tr_classes_list(root, &c, &e));
    assert_int_equal(c.n, 2);
    tr_classes_free(&c);
    tt_rmtree(root);
}

/* Copy a fixture JPEG into root/cls/name. */
static void put_jpeg(const char *root, const char *cls, const char *fixture, const char *name)
{
    char rel[128], path[4096];
    snprintf(rel, sizeof rel, "jpeg/%s", fixture);
    size_t len;
    unsigned char *d = tu_read_file(tu_fixture(rel), &len);
    assert_non_null(d);
    snprintf(path, sizeof path, "%s/%s/%s", root, cls, name);
    tt_write_bytes(path, d, len);
    free(d);
}

/* Two trees merged by class name (as --train A --train B): the union of the
 * classes, each image once with its class, JPEG and PNG alike, counted per
 * source; the trainer's scan decodes the JPEGs. */
static void test_merged_sources(void **state)
{
    (void)state;
    cc_err e;
    const char *a = tt_tempdir(), *b = tt_tempdir();
    tt_write_class(a, "COVID", 0, 2, 8, 1);
    tt_write_class(a, "Normal", 1, 3, 8, 2);
    tt_mkdir(b, "Normal");
    tt_mkdir(b, "Tuberculosis");
    put_jpeg(b, "Normal", "gray_q75.jpg", "n1.jpg");
    put_jpeg(b, "Tuberculosis", "ycc420_q90.jpg", "t1.JPEG");
    put_jpeg(b, "Tuberculosis", "exif_o6.jpg", "t2.jpg");
    char roots[8192];
    snprintf(roots, sizeof roots, "%s%c%s", a, TR_SOURCE_SEP, b);
    assert_int_equal(tr_sources_count(roots), 2);
    tr_classes c;
    OK(tr_classes_list(roots, &c, &e));
    assert_int_equal(c.n, 3);
    assert_string_equal(c.names[0], "COVID");
    assert_string_equal(c.names[1], "Normal");
    assert_string_equal(c.names[2], "Tuberculosis");
    tr_split s;
    OK(tr_split_list(roots, &c, 0, &s, &e));
    assert_int_equal(s.n, 2 + 3 + 1 + 2);
    int cnt[2 * 3];
    tr_split_source_counts(&s, roots, 3, cnt);
    const int want[6] = {2, 3, 0, 0, 1, 2};
    assert_memory_equal(cnt, want, sizeof want);
    /* Normal: a's images, then b's (class, then source, then name) */
    assert_int_equal(s.items[2].label, 1);
    assert_non_null(strstr(s.items[5].path, "n1.jpg"));
    tr_scan_result r;
    OK(tr_scan(&s, 16, CC_RESIZE_STRETCH, 1, 2, 1, &r, &e));
    assert_int_equal(r.nbad, 0);
    tr_scan_free(&r);
    tr_split_free(&s);
    /* a class folder of a source outside the classes is refused, naming it */
    tt_mkdir(b, "Other");
    assert_int_equal(tr_split_list(roots, &c, 0, &s, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "Other"));
    tr_classes_free(&c);
    tt_rmtree(a);
    tt_rmtree(b);
}

static int contains(const tr_split *s, const char *path)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->items[i].path, path) == 0)
            return 1;
    return 0;
}

static void test_split(void **state)
{
    (void)state;
    cc_err e;
    tr_classes c;
    tr_split a[3], b[3], d[3];
    const char *root = tt_tempdir();
    tt_write_class(root, "A", 0, 10, 8, 1);
    tt_write_class(root, "B", 1, 7, 8, 2);
    double f[3] = {0.7, 0.2, 0.1};
    OK(tr_split_root(root, f, 5, &c, a, &e));
    int cnt[3][2];
    for (int k = 0; k < 3; k++)
        tr_split_counts(&a[k], 2, cnt[k]);
    /* A: 10 -> 7/2/1; B: 7 -> round(4.9)=5 / round(1.4)=1 / 1 */
    assert_int_equal(cnt[0][0], 7);
    assert_int_equal(cnt[1][0], 2);
    assert_int_equal(cnt[2][0], 1);
    assert_int_equal(cnt[0][1], 5);
    assert_int_equal(cnt[1][1], 1);
    assert_int_equal(cnt[2][1], 1);
    /* Every file in exactly one part. */
    tr_split all;
    OK(tr_split_list(root, &c, 0, &all, &e));
    for (int i = 0; i < all.n; i++)
        assert_int_equal(contains(&a[0], all.items[i].path) + contains(&a[1], all.items[i].path) +
                             contains(&a[2], all.items[i].path),
                         1);
    /* Same seed, same split; another seed, another split. */
    tr_classes c2, c3;
    OK(tr_split_root(root, f, 5, &c2, b, &e));
    OK(tr_split_root(root, f, 6, &c3, d, &e));
    int same = 1, differ = 0;
    for (int i = 0; i < all.n; i++) {
        same &= contains(&a[1], all.items[i].path) == contains(&b[1], all.items[i].path);
        differ |= contains(&a[0], all.items[i].path) != contains(&d[0], all.items[i].path);
    }
    assert_true(same);
    assert_true(differ);
    /* --subset keeps the first N of each class. */
    tr_split_limit(&a[0], 2, 3);
    tr_split_counts(&a[0], 2, cnt[0]);
    assert_int_equal(cnt[0][0], 3);
    assert_int_equal(cnt[0][1], 3);
    for (int k = 0; k < 3; k++) {
        tr_split_free(&a[k]);
        tr_split_free(&b[k]);
        tr_split_free(&d[k]);
    }
    tr_split_free(&all);
    tr_classes_free(&c);
    tr_classes_free(&c2);
    tr_classes_free(&c3);
    tt_rmtree(root);
}

/* Mean/std of the resized images, computed directly. */
static void direct_stats(const tr_split *s, int size, double *mean, double *sd)
{
    double sum = 0, sq = 0, n = 0;
    float *tmp = malloc((size_t)size * size * sizeof *tmp);
    assert_non_null(tmp);
    for (int i = 0; i < s->n; i++) {
        cc_image img;
        if (cc_png_read_gray_file(s->items[i].path, &img, NULL) != COVIDCAM_OK)
            continue;
        cc_resize_u8_to_f32(img.pixels, img.width, img.height, (size_t)img.width, tmp, size, size);
        for (int k = 0; k < size * size; k++) {
            sum += tmp[k];
            sq += (double)tmp[k] * tmp[k];
            n++;
        }
        cc_image_free(&img);
    }
    free(tmp);
    *mean = sum / n;
    *sd = sqrt(sq / n - *mean * *mean);
}

static void test_scan(void **state)
{
    (void)state;
    cc_err e;
    tr_classes c;
    tr_split s;
    tr_scan_result r;
    const char *root = tt_tempdir();
    tt_write_class(root, "A", 0, 5, 12, 1);
    tt_write_class(root, "B", 1, 4, 16, 2);
    char p[4096];
    snprintf(p, sizeof p, "%s/B/broken.png", root);
    tt_write_bytes(p, "\x89PNG\r\n\x1a\nnot really", 18);
    OK(tr_classes_list(root, &c, &e));
    OK(tr_split_list(root, &c, 0, &s, &e));
    assert_int_equal(s.n, 10);
    OK(tr_scan(&s, 10, CC_RESIZE_STRETCH, 1, 3, 0, &r, &e));
    assert_int_equal(r.nbad, 1);
    double mean, sd;
    direct_stats(&s, 10, &mean, &sd);
    assert_true(fabs(r.mean - mean) < 1e-9 * mean);
    assert_true(fabs(r.std - sd) < 1e-6 * sd);
    tr_split_remove(&s, r.bad);
    assert_int_equal(s.n, 9);
    for (int i = 0; i < s.n; i++)
        assert_null(strstr(s.items[i].path, "broken"));
    tr_scan_free(&r);
    tr_split_free(&s);
    /* --strict: the unreadable image is an error naming it. */
    OK(tr_split_list(root, &c, 0, &s, &e));
    assert_int_not_equal(tr_scan(&s, 10, CC_RESIZE_STRETCH, 1, 2, 1, &r, &e), COVIDCAM_OK);
    assert_non_null(strstr(e.msg, "broken.png"));
    tr_split_free(&s);
    tr_classes_free(&c);
    tt_rmtree(root);
}

typedef struct loader_fixture {
    const char *root;
    tr_classes c;
    tr_split s;
    float mean[3], std[3];
} loader_fixture;

static void loader_setup(loader_fixture *f)
{
    cc_err e;
    f->root = tt_tempdir();
    tt_write_class(f->root, "A", 0, 7, 20, 1);
    tt_write_class(f->root, "B", 1, 6, 24, 2);
    tt_write_class(f->root, "C", 2, 5, 16, 3);
    OK(tr_classes_list(f->root, &f->c, &e));
    OK(tr_split_list(f->root, &f->c, 0, &f->s, &e));
    for (int i = 0; i < 3; i++) {
        f->mean[i] = 120;
        f->std[i] = 40;
    }
}

static void loader_teardown(loader_fixture *f)
{
    tr_split_free(&f->s);
    tr_classes_free(&f->c);
    tt_rmtree(f->root);
}

static tr_loader_cfg loader_cfg(loader_fixture *f, int workers, int augment)
{
    tr_loader_cfg c = {.split = &f->s, .batch = 4, .size = 12, .channels = 3,
                       .mean = f->mean, .std = f->std, .shuffle = 1, .drop_last = 1,
                       .seed = 42, .workers = workers};
    tr_aug_defaults(&c.aug);
    c.aug.enabled = augment;
    return c;
}

/* All batches of one epoch, concatenated (data, then labels). */
static float *epoch_data(tr_loader *l, int epoch, int first, int *labels)
{
    cc_err e;
    int nb = tr_loader_batches(l) - first;
    size_t per = 4 * 3 * 12 * 12;
    float *out = malloc((size_t)nb * per * sizeof *out);
    assert_non_null(out);
    OK(tr_loader_start(l, epoch, first, &e));
    for (int b = 0; b < nb; b++) {
        const tr_batch *x;
        OK(tr_loader_next(l, &x, &e));
        assert_int_equal(x->count, 4);
        memcpy(out + b * per, x->x, per * sizeof *out);
        memcpy(labels + b * 4, x->labels, 4 * sizeof *labels);
        tr_loader_release(l);
    }
    return out;
}

static void test_loader_deterministic(void **state)
{
    (void)state;
    loader_fixture f;
    cc_err e;
    loader_setup(&f);
    tr_loader_cfg c1 = loader_cfg(&f, 1, 1), c3 = loader_cfg(&f, 3, 1);
    tr_loader *a, *b;
    OK(tr_loader_create(&c1, &a, &e));
    OK(tr_loader_create(&c3, &b, &e));
    assert_int_equal(tr_loader_batches(a), 18 / 4);
    int la[16], lb[16], lc[16];
    float *x1 = epoch_data(a, 3, 0, la), *x3 = epoch_data(b, 3, 0, lb);
    size_t per = 4 * 3 * 12 * 12;
    /* Thread count does not matter. */
    assert_memory_equal(x1, x3, 4 * per * sizeof(float));
    assert_memory_equal(la, lb, sizeof la);
    /* Resuming at batch 2 gives batches 2 and 3 of the same epoch. */
    float *xr = epoch_data(b, 3, 2, lc);
    assert_memory_equal(xr, x1 + 2 * per, 2 * per * sizeof(float));
    assert_memory_equal(lc, la + 8, 8 * sizeof(int));
    /* Another epoch: another order. */
    float *x4 = epoch_data(a, 4, 0, lc);
    assert_true(memcmp(x1, x4, 4 * per * sizeof(float)) != 0);
    /* Channels replicate the gray image. */
    assert_memory_equal(x1, x1 + 144, 144 * sizeof(float));
    free(x1);
    free(x3);
    free(xr);
    free(x4);
    tr_loader_free(a);
    tr_loader_free(b);
    loader_teardown(&f);
}

/* Without augmentation a sample is exactly the library's preprocessing. */
static void test_loader_matches_preprocess(void **state)
{
    (void)state;
    loader_fixture f;
    cc_err e;
    loader_setup(&f);
    tr_loader_cfg c = loader_cfg(&f, 2, 0);
    c.shuffle = 0;
    c.drop_last = 0;
    tr_loader *l;
    OK(tr_loader_create(&c, &l, &e));
    assert_int_equal(tr_loader_batches(l), 5); /* 18 images, last batch of 2 */
    OK(tr_loader_start(l, 0, 0, &e));
    float want[3 * 144], tmp[144];
    for (int b = 0; b < 5; b++) {
        const tr_batch *x;
        OK(tr_loader_next(l, &x, &e));
        assert_int_equal(x->count, b < 4 ? 4 : 2);
        for (int i = 0; i < 4; i++) {
            int item = b * 4 + i;
            if (item >= f.s.n) {
                assert_int_equal(x->labels[i], -1);
                for (int k = 0; k < 3 * 144; k++)
                    assert_true(x->x[i * 432 + k] == 0.f);
                continue;
            }
            cc_image img;
            OK(cc_png_read_gray_file(f.s.items[item].path, &img, &e));
            float m3[3] = {120, 120, 120}, s3[3] = {40, 40, 40};
            cc_preprocess_gray(img.pixels, img.width, img.height, (size_t)img.width, 12, 3, m3,
                               s3, tmp, want);
            cc_image_free(&img);
            assert_memory_equal(x->x + i * 432, want, sizeof want);
            assert_int_equal(x->labels[i], f.s.items[item].label);
        }
        tr_loader_release(l);
    }
    tr_loader_free(l);
    loader_teardown(&f);
}

static void test_loader_unreadable(void **state)
{
    (void)state;
    loader_fixture f;
    cc_err e;
    loader_setup(&f);
    /* The image goes bad after the scan: skipped (label -1) or fatal (--strict). */
    tt_write_bytes(f.s.items[0].path, "garbage", 7);
    tr_loader_cfg c = loader_cfg(&f, 2, 0);
    c.shuffle = 0;
    tr_loader *l;
    const tr_batch *x;
    OK(tr_loader_create(&c, &l, &e));
    OK(tr_loader_start(l, 0, 0, &e));
    OK(tr_loader_next(l, &x, &e));
    assert_int_equal(x->labels[0], -1);
    assert_int_equal(x->labels[1], 0);
    tr_loader_release(l);
    assert_int_equal(tr_loader_failures(l), 1);
    tr_loader_free(l);
    c.strict = 1;
    OK(tr_loader_create(&c, &l, &e));
    OK(tr_loader_start(l, 0, 0, &e));
    assert_int_equal(tr_loader_next(l, &x, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(e.msg, "000.png"));
    tr_loader_free(l);
    loader_teardown(&f);
}

static void gradient_image(cc_image *img, int w, int h)
{
    img->width = w;
    img->height = h;
    img->pixels = malloc((size_t)w * h);
    assert_non_null(img->pixels);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            img->pixels[y * w + x] = (uint8_t)(40 + (x * 3 + y * 5) % 180);
}

static void test_augment(void **state)
{
    (void)state;
    cc_image img;
    gradient_image(&img, 40, 30);
    float mean[3] = {100, 100, 100}, sd[3] = {50, 50, 50};
    float tmp[2 * 32 * 32], ref[3 * 1024], a[3 * 1024], b[3 * 1024];
    cc_preprocess_gray(img.pixels, 40, 30, 40, 32, 3, mean, sd, tmp, ref);
    /* Augmentation with every range at zero is the identity. */
    tr_aug aug;
    tr_aug_defaults(&aug);
    aug.scale = aug.translate = aug.rotate = aug.brightness = aug.contrast = 0;
    tr_prepare(&img, 32, CC_RESIZE_STRETCH, 3, mean, sd, &aug, 7, tmp, a);
    for (int i = 0; i < 3 * 1024; i++)
        assert_true(fabsf(a[i] - ref[i]) < 1e-4f);
    /* ... under every resize mode: the trainer fits images as the library does */
    for (int mode = CC_RESIZE_CENTER_CROP; mode <= CC_RESIZE_PAD; mode++) {
        cc_preprocess_gray_mode(img.pixels, 40, 30, 40, 32, (cc_resize_mode)mode, 3, mean, sd,
                                tmp, ref);
        tr_prepare(&img, 32, (cc_resize_mode)mode, 3, mean, sd, &aug, 7, tmp, a);
        for (int i = 0; i < 3 * 1024; i++)
            assert_true(fabsf(a[i] - ref[i]) < 1e-4f);
        tr_aug no = aug;
        no.enabled = 0;
        tr_prepare(&img, 32, (cc_resize_mode)mode, 3, mean, sd, &no, 7, tmp, b);
        assert_memory_equal(b, ref, sizeof b);
    }
    cc_preprocess_gray(img.pixels, 40, 30, 40, 32, 3, mean, sd, tmp, ref);
    /* With ranges: deterministic per seed, different across seeds, and the
     * pixels stay within [0, 255] before normalization. */
    tr_aug_defaults(&aug);
    tr_prepare(&img, 32, CC_RESIZE_STRETCH, 3, mean, sd, &aug, 7, tmp, a);
    tr_prepare(&img, 32, CC_RESIZE_STRETCH, 3, mean, sd, &aug, 7, tmp, b);
    assert_memory_equal(a, b, sizeof a);
    tr_prepare(&img, 32, CC_RESIZE_STRETCH, 3, mean, sd, &aug, 8, tmp, b);
    assert_true(memcmp(a, b, sizeof a) != 0);
    double diff = 0;
    for (int i = 0; i < 1024; i++) {
        float px = a[i] * 50 + 100;
        assert_true(px >= -1e-3f && px <= 255.001f);
        diff += fabs(a[i] - ref[i]);
    }
    /* Small perturbation: on average well under the image's spread. */
    assert_true(diff / 1024 > 1e-3 && diff / 1024 < 1.0);
    /* A pure horizontal flip mirrors the resized image. */
    aug.scale = aug.translate = aug.rotate = aug.brightness = aug.contrast = 0;
    aug.hflip = 1;
    int flipped = 0;
    for (uint64_t seed = 0; seed < 8 && !flipped; seed++) {
        tr_prepare(&img, 32, CC_RESIZE_STRETCH, 1, mean, sd, &aug, seed, tmp, b);
        flipped = fabsf(b[0] - ref[31]) < 1e-4f && fabsf(b[31] - ref[0]) < 1e-4f;
    }
    assert_true(flipped);
    cc_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_class_errors),
        cmocka_unit_test(test_class_folder_names),
        cmocka_unit_test(test_merged_sources),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_loader_deterministic),
        cmocka_unit_test(test_loader_matches_preprocess),
        cmocka_unit_test(test_loader_unreadable),
        cmocka_unit_test(test_augment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
