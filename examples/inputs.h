/* The images a command line names: files as given, folders walked
 * recursively for the files whose first bytes are PNG, JPEG or DICOM (the
 * rule of include/covidcam.h, whatever the name), and "-" for a list of paths
 * on stdin, one per line. The order is deterministic: inputs in the order
 * given, the images under each folder sorted by the bytes of their path. */
#ifndef COVIDCAM_INPUTS_H
#define COVIDCAM_INPUTS_H

#include <stddef.h>
#include <stdio.h>

typedef struct cli_input {
    char *path;  /* what to open: the argument, or folder + "/" + rel */
    char *rel;   /* the name under --out-dir: the path under its folder, or the
                    base name of a file named directly */
    int status;  /* 0, or the covidcam_status of a file the walk could not read */
    char *error; /* the message when status != 0, else NULL */
} cli_input;

typedef struct cli_inputs {
    cli_input *item; /* owned, `count` of them */
    size_t count, cap;
    size_t not_images; /* regular files in folders that are not PNG/JPEG/DICOM */
    size_t not_files;  /* other entries in folders: FIFOs, sockets, devices, links to folders */
    int any_folder;    /* a folder or "-" was among the arguments */
} cli_inputs;

/* Add what `arg` names: "-" reads paths from `list` (each line is taken as an
 * argument; empty lines are skipped), a folder is walked (only file names
 * matching `pattern`, an fnmatch(3) glob on the last component, when it is
 * not NULL; symbolic links to folders are not followed), anything else is
 * added as it is (the library reports what is wrong with it). 0, or -1 when
 * out of memory (message printed with `prog`). */
int cli_inputs_add(cli_inputs *in, const char *prog, const char *arg, const char *pattern,
                   FILE *list);

/* 1 if the first `len` bytes at `buf` start a PNG, JPEG or DICOM file. */
int cli_looks_like_image(const unsigned char *buf, size_t len);

/* Free every item; `in` is empty and reusable after. */
void cli_inputs_free(cli_inputs *in);

#endif
