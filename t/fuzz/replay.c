/* Replay a fuzz corpus without libFuzzer: `make fuzz-replay`.
 *
 * Links with the fuzz targets (t/fuzz/fuzz_*.c) and a sanitizing build of
 * the cores, walks every path given on the command line (directories
 * recursively, in sorted order so runs are comparable) and feeds each regular
 * file to LLVMFuzzerTestOneInput().  Any crash or sanitizer report fails the
 * run; so does an empty corpus, which would otherwise pass while testing
 * nothing.
 */
#ifndef LBX_FUZZ_REPLAY
#error "build with -DLBX_FUZZ_REPLAY (see the t/fuzz/replay rule)"
#endif

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replayed;
static int failed;
static int verbose;

static void replay_file(const char *path, off_t size)
{
    FILE *f;
    uint8_t *buf;
    size_t n = (size_t)size;

    /* Exactly the file's size, so the target sees no slack after it. */
    buf = malloc(n ? n : 1);
    f = fopen(path, "rb");
    if (buf == NULL || f == NULL || fread(buf, 1, n, f) != n) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        failed = 1;
    }
    else {
        if (verbose) {
            fprintf(stderr, "replay: %s\n", path);
        }
        LLVMFuzzerTestOneInput(buf, n);
        replayed++;
    }
    if (f != NULL) {
        fclose(f);
    }
    free(buf);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_path(const char *path);

static void replay_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char **names = NULL;
    size_t count = 0, cap = 0, i;

    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        failed = 1;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (count == cap) {
            char **grown;

            cap = cap ? cap * 2 : 32;
            grown = realloc(names, cap * sizeof(*names));
            if (grown == NULL) {
                fprintf(stderr, "replay: out of memory\n");
                exit(2);
            }
            names = grown;
        }
        names[count] = malloc(strlen(path) + strlen(e->d_name) + 2);
        if (names[count] == NULL) {
            fprintf(stderr, "replay: out of memory\n");
            exit(2);
        }
        sprintf(names[count], "%s/%s", path, e->d_name);
        count++;
    }
    closedir(d);

    if (count > 1) {
        qsort(names, count, sizeof(*names), cmp_names);
    }
    for (i = 0; i < count; i++) {
        replay_path(names[i]);
        free(names[i]);
    }
    free(names);
}

static void replay_path(const char *path)
{
    struct stat st;

    /* lstat: a symlink loop in a corpus must not recurse forever. */
    if (lstat(path, &st) != 0) {
        fprintf(stderr, "replay: cannot stat %s: %s\n", path, strerror(errno));
        failed = 1;
    }
    else if (S_ISDIR(st.st_mode)) {
        replay_dir(path);
    }
    else if (S_ISREG(st.st_mode)) {
        replay_file(path, st.st_size);
    }
}

int main(int argc, char **argv)
{
    int i = 1;

    if (i < argc && strcmp(argv[i], "-v") == 0) {
        verbose = 1;
        i++;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [-v] CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (; i < argc; i++) {
        replay_path(argv[i]);
    }

    printf("replayed %lu inputs\n", replayed);
    if (failed) {
        return 1;
    }
    if (replayed == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    return 0;
}
