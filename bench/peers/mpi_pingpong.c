/* mpi_pingpong.c: point-to-point latency in the manner of the OSU micro-benchmarks' osu_latency, the
 * OpenMPI column beside `zcoll bench latency` in bench/peers. Exactly 2 ranks: rank 0 sends SIZE bytes
 * and waits for rank 1's reply of the same size (MPI_Send / MPI_Recv); the time of one iteration is half
 * of that round trip, as osu_latency and zcoll bench latency report it.
 *
 *   mpicc -O2 -o BUILD/mpi_pingpong bench/peers/mpi_pingpong.c
 *   mpirun --allow-run-as-root -np 2 --mca pml ob1 --mca btl tcp,self (or vader,self) ... \
 *          BUILD/mpi_pingpong OUT.json 4,64,1024 [ITERS [WARMUP]]
 *
 * Every message is checked, outside the timed part: each rank sends a payload that depends on its rank,
 * the size and the iteration, and the receiver compares every byte. Every iteration starts with a
 * barrier (as zcoll bench latency's do); time = median over the timed iterations of the max over the two
 * ranks of the half round trip (the mean too, which is what osu_latency prints).
 * Iterations unless ITERS > 0: 1000 up to 8 KiB, 100 above (osu_latency's split), warmup a tenth
 * (min(5, ITERS) when ITERS is given) unless WARMUP > 0.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static unsigned char payload(int rank, long size, int it, long k) {
  return (unsigned char)(k * 31 + it * 7 + rank * 101 + size);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (n != 2 || argc < 3) {
    if (rank == 0) fprintf(stderr, "usage: mpirun -np 2 mpi_pingpong OUT.json SIZES(bytes, comma-separated) [ITERS [WARMUP]] (got %d ranks)\n", n);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int forced = argc > 3 ? atoi(argv[3]) : 0;
  int forcedWarm = argc > 4 ? atoi(argv[4]) : 0;
  const int peer = 1 - rank, tag = 7;
  FILE *out = NULL;
  if (rank == 0) {
    out = fopen(argv[1], "w");
    if (!out) {
      perror(argv[1]);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    fprintf(out, "{\"peer\":\"mpi-pingpong\",\"n\":2,\"results\":[");
  }
  char *sizes = strdup(argv[2]);
  int rows = 0;
  for (char *tok = strtok(sizes, ","); tok; tok = strtok(NULL, ",")) {
    long size = strtol(tok, NULL, 10);
    if (size < 1) {
      if (rank == 0) fprintf(stderr, "mpi_pingpong: size %s is not a positive number of bytes\n", tok);
      MPI_Abort(MPI_COMM_WORLD, 2);
      return 2; /* MPI_Abort does not return; this tells the compiler size is valid below */
    }
    unsigned char *mine = malloc((size_t)size), *got = malloc((size_t)size);
    int iters = forced > 0 ? forced : size <= 8192 ? 1000 : 100, warm = forcedWarm > 0 ? forcedWarm : forced > 0 ? (forced < 5 ? forced : 5) : iters / 10;
    double *t = malloc(sizeof(double) * iters);
    long wrong = 0;
    for (int it = 0; it < warm + iters; it++) {
      for (long k = 0; k < size; k++) mine[k] = payload(rank, size, it, k);
      memset(got, 0, size);
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      if (rank == 0) {
        MPI_Send(mine, (int)size, MPI_BYTE, peer, tag, MPI_COMM_WORLD);
        MPI_Recv(got, (int)size, MPI_BYTE, peer, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        MPI_Recv(got, (int)size, MPI_BYTE, peer, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(mine, (int)size, MPI_BYTE, peer, tag, MPI_COMM_WORLD);
      }
      double t1 = MPI_Wtime();
      for (long k = 0; k < size; k++) wrong += got[k] != payload(peer, size, it, k);
      if (it >= warm) t[it - warm] = (t1 - t0) / 2;
    }
    MPI_Allreduce(MPI_IN_PLACE, t, iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    double mean = 0;
    for (int i = 0; i < iters; i++) mean += t[i] / iters;
    qsort(t, iters, sizeof(double), by_value);
    double med = iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
    if (rank == 0) {
      fprintf(out, "%s\n{\"bytes\":%ld,\"iters\":%d,\"warmup\":%d,\"time_med_s\":%.9g,\"time_mean_s\":%.9g,\"time_min_s\":%.9g,\"wrong\":%ld,\"checked\":%ld}",
              rows ? "," : "", size, iters, warm, med, mean, t[0], wrong, size * (long)(warm + iters) * 2);
    }
    rows++;
    free(t);
    free(mine);
    free(got);
  }
  free(sizes);
  if (rank == 0) {
    fprintf(out, "\n]}\n");
    fclose(out);
  }
  MPI_Finalize();
  return 0;
}
