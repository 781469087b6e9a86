// What one thread waking another costs on this machine: a put's path hands work from thread to
// thread several times (gRPC, Raft, apply, the answer), and each hand-off that lands on an idle
// vCPU waits for the hypervisor to run that vCPU again. Two threads ping-pong over semaphores
// (futexes) ROUNDS times, each round after GAP_US of idleness, and the round trips (two wakes)
// are printed as percentiles.
//
//   gcc -O2 -pthread -o /tmp/wake-latency scripts/wake-latency.c
//   /tmp/wake-latency same  5000 200   # both threads on CPU 0
//   /tmp/wake-latency cross 5000 200   # the threads on CPUs 0 and 1
//   /tmp/wake-latency free  5000 200   # wherever the kernel puts them
//
// A diagnostic for docs/benchmarks.md (issue 5, session 18); not built or run by the tests.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sem_t ping, pong;
static int rounds;
static const char *placement;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
        fprintf(stderr, "cannot pin to CPU %d\n", cpu);
        exit(2);
    }
}

static void *answer(void *unused)
{
    (void)unused;
    if (strcmp(placement, "same") == 0) pin(0);
    if (strcmp(placement, "cross") == 0) pin(1);
    for (int i = 0; i < rounds; i++) {
        sem_wait(&ping);
        sem_post(&pong);
    }
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double d = *(const double *)a - *(const double *)b;
    return d < 0 ? -1 : d > 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "same") && strcmp(argv[1], "cross") && strcmp(argv[1], "free"))) {
        fprintf(stderr, "usage: %s same|cross|free ROUNDS GAP_US\n", argv[0]);
        return 2;
    }

    placement = argv[1];
    rounds = atoi(argv[2]);
    long gap_us = atol(argv[3]);
    if (rounds < 10 || gap_us < 0) {
        fprintf(stderr, "ROUNDS must be at least 10 and GAP_US not negative\n");
        return 2;
    }

    sem_init(&ping, 0, 0);
    sem_init(&pong, 0, 0);
    if (strcmp(placement, "free") != 0) pin(0);
    pthread_t other;
    pthread_create(&other, NULL, answer, NULL);
    double *round_trips = malloc(rounds * sizeof(double));
    for (int i = 0; i < rounds; i++) {
        if (gap_us > 0) usleep(gap_us);
        double start = now_us();
        sem_post(&ping);
        sem_wait(&pong);
        round_trips[i] = now_us() - start;
    }

    pthread_join(other, NULL);
    qsort(round_trips, rounds, sizeof(double), by_value);
    printf("%s: %d round trips (two wakes each) after %ld us idle: p50 %.1f us, p90 %.1f us, p99 %.1f us\n",
           placement, rounds, gap_us, round_trips[rounds / 2], round_trips[rounds * 9 / 10], round_trips[rounds * 99 / 100]);
    free(round_trips);
    return 0;
}
