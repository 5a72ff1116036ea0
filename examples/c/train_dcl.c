/*
 * train_dcl.c: DCL pretraining from C with nothing but dclkit.h and libdclkit.so.
 *
 * Makes a small labelled image set (two classes: horizontal and vertical stripes, with noise),
 * trains DCL for one epoch, saves a checkpoint, resumes it into a second trainer, trains one more
 * epoch on both (the losses must agree bit for bit), embeds the images with the resumed trainer
 * and prints the kNN top-1 of its features. It also shows how a bad configuration is reported.
 *
 *   cc -std=c11 -I<dir of dclkit.h> train_dcl.c -L<dir of libdclkit.so> -ldclkit -o train_dcl
 *   ./train_dcl /tmp/run.safetensors        (LD_LIBRARY_PATH or an rpath to find the library)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dclkit.h"

#define SIDE 16
#define TRAIN 64
#define TEST 32
#define PIXELS (SIDE * SIDE * 3)

/* Stops the program with the library's message when a call fails. */
static void check(int32_t status, const char *what) {
    if (status != DCL_OK) {
        const char *message = dcl_last_error();
        fprintf(stderr, "%s failed (status %d): %s\n", what, status, message ? message : "?");
        exit(1);
    }
}

/* Image i of a set: stripes across (label 0) or down (label 1), period 4, plus noise. */
static void make_images(uint8_t *images, int64_t *labels, int count, uint32_t seed) {
    uint32_t state = seed;
    for (int i = 0; i < count; i++) {
        int label = i % 2;
        labels[i] = label;
        for (int y = 0; y < SIDE; y++) {
            for (int x = 0; x < SIDE; x++) {
                int stripe = ((label == 0 ? y : x) / 2) % 2;
                for (int c = 0; c < 3; c++) {
                    state = state * 1664525u + 1013904223u;
                    int noise = (int)(state >> 27) - 16;
                    int value = (stripe ? 200 : 40) + 20 * c + noise;
                    images[((i * SIDE + y) * SIDE + x) * 3 + c] = (uint8_t)(value < 0 ? 0 : value > 255 ? 255 : value);
                }
            }
        }
    }
}

/* Steps `trainer` through the rest of its current epoch and prints the epoch's record (loss,
 * diagnostics, kNN top-1 when the monitor ran); returns the last step's loss. */
static double train_epoch(dcl_trainer *trainer, const uint8_t *images, int64_t count) {
    char record[4096];
    int64_t needed = 0;
    double loss = NAN;
    do {
        check(dcl_trainer_step(trainer, images, count, SIDE, SIDE, 3, &loss, NULL, NULL, NULL, NULL, record,
                               sizeof record, &needed), "dcl_trainer_step");
    } while (needed == 0);
    printf("epoch record: %s\n", record);
    return loss;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "train_dcl.safetensors";
    static uint8_t train[TRAIN * PIXELS], test[TEST * PIXELS];
    int64_t train_labels[TRAIN], test_labels[TEST];
    make_images(train, train_labels, TRAIN, 1);
    make_images(test, test_labels, TEST, 2);
    printf("dclkit %s\n", dcl_version());

    /* A bad configuration is a status code and a message naming the field. */
    dcl_trainer *bad = NULL;
    int32_t status = dcl_trainer_create("{\"method\": \"dcl\", \"batch_size\": 1}", &bad);
    printf("bad config: status %d, %s\n", status, dcl_last_error());
    if (status != DCL_INVALID_ARGUMENT || bad != NULL) return 1;

    /* Every field left out takes the core's default; dcl_config_resolve shows them. */
    const char *config = "{\"method\": \"dcl\", \"width\": 0.125, \"batch_size\": 16, \"image_size\": 16, "
                         "\"epochs\": 2, \"warmup_epochs\": 0, \"lr\": 0.1, \"seed\": 7, "
                         "\"augment\": {\"pipeline\": \"simclr\", \"blur\": 0}}";
    int64_t needed = 0;
    check(dcl_config_resolve(config, NULL, 0, &needed), "dcl_config_resolve");
    char *completed = malloc((size_t)needed);
    if (!completed) return 1;
    check(dcl_config_resolve(config, completed, needed, &needed), "dcl_config_resolve");
    printf("config: %s\n", completed);
    free(completed);

    dcl_trainer *trainer = NULL;
    check(dcl_trainer_create(config, &trainer), "dcl_trainer_create");
    double first = train_epoch(trainer, train, TRAIN);
    check(dcl_trainer_save(trainer, path), "dcl_trainer_save");
    printf("epoch 1: last loss %.6f, saved %s\n", first, path);

    dcl_trainer *resumed = NULL;
    check(dcl_trainer_resume(path, &resumed), "dcl_trainer_resume");
    double straight = train_epoch(trainer, train, TRAIN);
    double again = train_epoch(resumed, train, TRAIN);
    int64_t epoch = 0, step = 0;
    check(dcl_trainer_progress(resumed, &epoch, NULL, NULL, &step, NULL), "dcl_trainer_progress");
    printf("epoch %lld, step %lld: loss %.6f straight, %.6f resumed; resume exact: %s\n", (long long)epoch,
           (long long)step, straight, again, straight == again ? "yes" : "no");

    /* Features of the resumed model, through an encoder view of it, then kNN. */
    dcl_encoder *encoder = NULL;
    check(dcl_trainer_encoder(resumed, &encoder), "dcl_trainer_encoder");
    needed = 0;
    check(dcl_encoder_describe(encoder, NULL, 0, &needed), "dcl_encoder_describe");
    char *description = malloc((size_t)needed);
    if (!description) return 1;
    check(dcl_encoder_describe(encoder, description, needed, &needed), "dcl_encoder_describe");
    int features = 0;
    const char *key = "\"feature_dim\":";
    for (char *p = description; *p; p++) {
        int i = 0;
        while (key[i] && p[i] == key[i]) i++;
        if (!key[i]) { features = atoi(p + i); break; }
    }
    free(description);
    dcl_encoder_free(encoder);
    if (features <= 0) return 1;

    float *train_features = malloc(sizeof(float) * TRAIN * (size_t)features);
    float *test_features = malloc(sizeof(float) * TEST * (size_t)features);
    if (!train_features || !test_features) return 1;
    check(dcl_trainer_embed(resumed, train, TRAIN, SIDE, SIDE, 3, train_features), "dcl_trainer_embed");
    check(dcl_trainer_embed(resumed, test, TEST, SIDE, SIDE, 3, test_features), "dcl_trainer_embed");
    double top1 = 0;
    check(dcl_knn(train_features, train_labels, TRAIN, test_features, test_labels, TEST, features, 2, 20, 0.1,
                  &top1, NULL), "dcl_knn");
    printf("features %d, knn_top1 %.4f\n", features, top1);

    free(train_features);
    free(test_features);
    dcl_trainer_free(resumed);
    dcl_trainer_free(trainer);
    return straight == again && isfinite(straight) ? 0 : 1;
}
