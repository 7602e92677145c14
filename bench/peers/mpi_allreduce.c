/* mpi_allreduce.c: MPI_Allreduce(MPI_IN_PLACE, float32, MPI_SUM), one of bench/peers' columns, measured
 * exactly as bench/peers-zcoll-worker.ts measures zcoll.
 *
 *   mpicc -O2 -o BUILD/mpi_allreduce bench/peers/mpi_allreduce.c
 *   mpirun --allow-run-as-root -np N --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo \
 *          --mca oob_tcp_if_include lo BUILD/mpi_allreduce OUT.json 4096,65536 [ITERS [WARMUP]]
 *   (--mca btl vader,self instead of tcp,self: the shared-memory column.)
 *
 * Per size, per iteration: fill with rank+1; MPI_Barrier; t0; MPI_Allreduce; t1; MPI_Barrier; count the
 * elements that are not n(n+1)/2 (every element, outside the timed part, and only once every rank left the
 * all-reduce: with more ranks than cores a rank's check would otherwise take the core from a peer still
 * inside its timed call). time = median over the timed iterations of
 * the max over ranks; algbw = bytes/time, busbw = algbw*2(n-1)/n (nccl-tests), GB = 1e9 B.
 * Iterations: 512 MiB of traffic per size clamped to [5, 200] unless ITERS > 0; warmup min(5, iters)
 * unless WARMUP > 0.
 * Rows carry `wrong` (summed over ranks and iterations) and `checked` (elements compared).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int iterations(long size, int forced) {
  if (forced > 0) return forced;
  long it = (512L << 20) / size;
  return it < 5 ? 5 : it > 200 ? 200 : (int)it;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (argc < 3) {
    if (rank == 0) fprintf(stderr, "usage: mpi_allreduce OUT.json SIZES(bytes, comma-separated) [ITERS [WARMUP]]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int forced = argc > 3 ? atoi(argv[3]) : 0;
  int forcedWarm = argc > 4 ? atoi(argv[4]) : 0;
  const float want = (float)n * (n + 1) / 2.0f;
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len;
  MPI_Get_library_version(lib, &len);
  char *comma = strchr(lib, ',');
  if (comma) *comma = 0;
  FILE *out = NULL;
  if (rank == 0) {
    out = fopen(argv[1], "w");
    if (!out) {
      perror(argv[1]);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    fprintf(out, "{\"peer\":\"mpi\",\"library\":\"%s\",\"n\":%d,\"results\":[", lib, n);
  }
  char *sizes = strdup(argv[2]);
  int rows = 0;
  for (char *tok = strtok(sizes, ","); tok; tok = strtok(NULL, ",")) {
    long size = strtol(tok, NULL, 10);
    if (size < 4 || size % 4) {
      if (rank == 0) fprintf(stderr, "mpi_allreduce: size %s is not a positive multiple of 4 bytes\n", tok);
      MPI_Abort(MPI_COMM_WORLD, 2);
      return 2; /* MPI_Abort does not return; this tells the compiler size is valid below */
    }
    long count = size / 4;
    float *buf = malloc(size);
    int iters = iterations(size, forced), warm = forcedWarm > 0 ? forcedWarm : iters < 5 ? iters : 5;
    double *t = malloc(sizeof(double) * iters);
    long wrong = 0;
    for (int it = 0; it < warm + iters; it++) {
      for (long k = 0; k < count; k++) buf[k] = (float)(rank + 1);
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double t1 = MPI_Wtime();
      MPI_Barrier(MPI_COMM_WORLD);
      for (long k = 0; k < count; k++) wrong += buf[k] != want;
      if (it >= warm) t[it - warm] = t1 - t0;
    }
    MPI_Allreduce(MPI_IN_PLACE, t, iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    qsort(t, iters, sizeof(double), by_value);
    double med = iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
    double algbw = size / med / 1e9;
    if (rank == 0) {
      fprintf(out,
              "%s\n{\"bytes\":%ld,\"count\":%ld,\"iters\":%d,\"warmup\":%d,\"time_med_s\":%.9g,\"time_min_s\":%.9g,"
              "\"algbw_GBps\":%.6g,\"busbw_GBps\":%.6g,\"wrong\":%ld,\"checked\":%ld}",
              rows ? "," : "", size, count, iters, warm, med, t[0], algbw, algbw * 2 * (n - 1) / n, wrong,
              count * (warm + iters) * n);
    }
    rows++;
    free(t);
    free(buf);
  }
  free(sizes);
  if (rank == 0) {
    fprintf(out, "\n]}\n");
    fclose(out);
  }
  MPI_Finalize();
  return 0;
}
