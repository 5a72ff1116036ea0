/* Run under `mpirun -n W` by test_distributed.py: a C program that drives dclkit's communicator
 * with its own MPI calls through dclkit.h (no Python), as the header's distributed section
 * describes, and trains a tiny data-parallel run (dcl, SyncBN) with it. Prints "ok rank R" on
 * success; exits 1 with a message otherwise. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dclkit.h"

static MPI_Datatype type_of(int32_t element) {
    return element == DCL_FLOAT32 ? MPI_FLOAT : element == DCL_FLOAT64 ? MPI_DOUBLE : MPI_INT64_T;
}

static int32_t report(int code, char *message, int64_t capacity) {
    int length = 0;
    char text[MPI_MAX_ERROR_STRING];
    MPI_Error_string(code, text, &length);
    snprintf(message, (size_t)capacity, "%s", text);
    return 1;
}

/* Allreduce as reduce-scatter + all-gather, and the fewer than W leftover elements reduced on
 * rank 0 and broadcast: every element is summed on one rank only, so every rank gets the same
 * bytes. */
static int32_t allreduce(void *context, void *buffer, int64_t count, int32_t element, char *message, int64_t capacity) {
    MPI_Comm comm = *(MPI_Comm *)context;
    int size, bytes, code;
    MPI_Comm_size(comm, &size);
    MPI_Type_size(type_of(element), &bytes);
    int64_t block = count / size;
    if (block > 0) {
        void *part = malloc((size_t)(block * bytes));
        code = MPI_Reduce_scatter_block(buffer, part, (int)block, type_of(element), MPI_SUM, comm);
        if (code == MPI_SUCCESS) code = MPI_Allgather(part, (int)block, type_of(element), buffer, (int)block, type_of(element), comm);
        free(part);
        if (code != MPI_SUCCESS) return report(code, message, capacity);
    }
    int64_t rest = count - block * size;
    if (rest > 0) {
        int rank;
        MPI_Comm_rank(comm, &rank);
        char *tail = (char *)buffer + block * size * bytes;
        code = MPI_Reduce(rank == 0 ? MPI_IN_PLACE : tail, tail, (int)rest, type_of(element), MPI_SUM, 0, comm);
        if (code == MPI_SUCCESS) code = MPI_Bcast(tail, (int)rest, type_of(element), 0, comm);
        if (code != MPI_SUCCESS) return report(code, message, capacity);
    }
    return 0;
}

static int32_t allgather(void *context, const void *send, void *receive, int64_t count, int32_t element,
                         char *message, int64_t capacity) {
    int code = MPI_Allgather(send, (int)count, type_of(element), receive, (int)count, type_of(element), *(MPI_Comm *)context);
    return code == MPI_SUCCESS ? 0 : report(code, message, capacity);
}

static int32_t broadcast(void *context, void *buffer, int64_t count, int32_t element, int32_t root,
                         char *message, int64_t capacity) {
    int code = MPI_Bcast(buffer, (int)count, type_of(element), root, *(MPI_Comm *)context);
    return code == MPI_SUCCESS ? 0 : report(code, message, capacity);
}

static void fail(int rank, const char *what) {
    const char *error = dcl_last_error();
    fprintf(stderr, "rank %d: %s (%s)\n", rank, what, error ? error : "no message");
    MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    dcl_comm *dc = NULL;
    if (dcl_comm_create(rank, size, allreduce, allgather, broadcast, &comm, &dc) != DCL_OK) fail(rank, "create");

    /* allreduce of 7 floats: element i of rank r is r + i / 8 (exact in float32). */
    float values[7];
    for (int i = 0; i < 7; i++) values[i] = (float)rank + (float)i / 8.0f;
    if (dcl_comm_allreduce_sum(dc, DCL_FLOAT32, values, 7) != DCL_OK) fail(rank, "allreduce");
    for (int i = 0; i < 7; i++) {
        float want = (float)(size * (size - 1) / 2) + (float)size * (float)i / 8.0f;
        if (values[i] != want) fail(rank, "wrong allreduce sum");
    }

    /* the projection gather: rank r's 2 x 3 rows hold r everywhere. */
    float z[6], gathered[6 * 64];
    for (int i = 0; i < 6; i++) z[i] = (float)rank;
    if (size > 64 || dcl_projection_gather(dc, z, 2, 3, gathered) != DCL_OK) fail(rank, "gather");
    for (int i = 0; i < 6 * size; i++)
        if (gathered[i] != (float)(i / 6)) fail(rank, "wrong gathered rows");

    /* a configuration that differs on the last rank: DCL_INVALID_ARGUMENT on every rank. */
    const char *text = rank == size - 1 ? "{\"tau\": 0.2}" : "{\"tau\": 0.1}";
    if (dcl_comm_check_configuration(dc, text) != DCL_INVALID_ARGUMENT) fail(rank, "mismatch not reported");
    if (strstr(dcl_last_error(), "differs between ranks") == NULL) fail(rank, "unclear mismatch message");

    /* a batch of 2W + 1: DCL_INVALID_ARGUMENT on every rank; 2W: 2 rows at offset 2r. */
    int64_t local = 0, offset = 0;
    if (dcl_comm_batch_share(dc, 2 * size + 1, &local, &offset) != DCL_INVALID_ARGUMENT) fail(rank, "indivisible batch accepted");
    if (dcl_comm_batch_share(dc, 2 * size, &local, &offset) != DCL_OK || local != 2 || offset != 2 * rank) fail(rank, "batch share");

    /* A data-parallel run: 2 steps of a global batch of 2W on 4W images; every rank ends with
     * the same loss and the same state (weights, optimiser, history). */
    char config[256];
    snprintf(config, sizeof config, "{\"method\": \"dcl\", \"width\": 0.125, \"image_size\": 8, \"batch_size\": %d, "
             "\"head_dims\": [16, 8], \"epochs\": 1, \"sync_bn\": true}", 2 * size);
    dcl_trainer *trainer = NULL;
    if (dcl_trainer_create_distributed(config, dc, &trainer) != DCL_OK) fail(rank, "distributed trainer");
    int64_t count = 4 * size;
    uint8_t *images = malloc((size_t)(count * 8 * 8 * 3));
    for (int64_t i = 0; i < count * 8 * 8 * 3; i++) images[i] = (uint8_t)((i * 2654435761u) >> 24);
    double loss = 0, losses[64];
    for (int s = 0; s < 2; s++)
        if (dcl_trainer_step(trainer, images, count, 8, 8, 3, &loss, NULL, NULL, NULL, NULL, NULL, 0, NULL) != DCL_OK) fail(rank, "step");
    uint64_t hash = 0, hashes[64];
    if (dcl_trainer_state_hash(trainer, "", &hash) != DCL_OK) fail(rank, "state hash");
    MPI_Allgather(&loss, 1, MPI_DOUBLE, losses, 1, MPI_DOUBLE, comm);
    MPI_Allgather(&hash, 1, MPI_UINT64_T, hashes, 1, MPI_UINT64_T, comm);
    for (int r = 0; r < size; r++)
        if (losses[r] != losses[0] || hashes[r] != hashes[0] || !isfinite(losses[r])) fail(rank, "ranks differ after training");
    dcl_trainer_free(trainer);
    free(images);

    dcl_comm_free(dc);
    printf("ok rank %d\n", rank);
    MPI_Finalize();
    return 0;
}
