/* One rank of an OpenMPI all-reduce sweep for bench/hosts-netns.ts (same method as gloo_allreduce.py).
 * Args: sizes in bytes, comma-separated; timed iterations; warm-up iterations (default 1). Float32 MPI_SUM in place; every rank's
 * input is rank+1, so every element must be n(n+1)/2 (checked, all elements; a wrong count is
 * reported). Per iteration: fill, barrier, time the all-reduce; the iteration's time is the max over
 * ranks, the size's time the median. Rank 0 prints one JSON line per size. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (argc < 3) {
    if (rank == 0) fprintf(stderr, "usage: mpi_allreduce SIZES ITERS [WARMUP]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int iters = atoi(argv[2]);
  int warmup = argc > 3 ? atoi(argv[3]) : 1;
  if (iters < 1 || warmup < 0) {
    if (rank == 0) fprintf(stderr, "mpi_allreduce: ITERS must be >= 1 and WARMUP >= 0\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  char* list = strdup(argv[1]);
  const float expect = (float)n * (n + 1) / 2;
  for (char* tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
    size_t size = strtoull(tok, NULL, 10), count = size / 4;
    float* buf = malloc(size > 0 ? size : 4);
    double* t = malloc(sizeof(double) * (size_t)iters);
    long wrong = 0;
    for (int i = 0; i < warmup + iters; i++) {
      for (size_t k = 0; k < count; k++) buf[k] = (float)(rank + 1);
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double dt = MPI_Wtime() - t0;
      MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (i >= warmup) t[i - warmup] = dt;
      for (size_t k = 0; k < count; k++) wrong += buf[k] != expect;
    }
    MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
      qsort(t, (size_t)iters, sizeof(double), cmp);
      double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
      double algbw = size / med;
      printf("{\"size\":%zu,\"time_us\":%.1f,\"algbw\":%.6g,\"busbw\":%.6g,\"wrong\":%ld}\n", size, med * 1e6, algbw, algbw * 2.0 * (n - 1) / n, wrong);
      fflush(stdout);
    }
    free(t);
    free(buf);
  }
  free(list);
  MPI_Finalize();
  return 0;
}
