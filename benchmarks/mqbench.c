/*
 * mqbench.c - the load generator: `mqbench producer|consumer|e2e [flags]`.
 *
 * Prints one line a second and a final summary line. This first version
 * knows its modes and flags; the load itself arrives with the send/consume
 * and benchmark issues, and until then a run exits with status 2 saying so.
 */
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mqbench MODE [FLAGS]\n\n"
            "Modes:\n"
            "  producer   send messages as fast as allowed\n"
            "  consumer   consume messages of a topic\n"
            "  e2e        send at a fixed rate and measure send-to-receive latency\n\n"
            "Flags:\n"
            "  -n ADDRS         nameservers 'host:port;host:port'\n"
            "  -t TOPIC         topic (BenchmarkTest)\n"
            "  -s BYTES         message body size (1024)\n"
            "  -w N             threads or connections (1)\n"
            "  --mode M         producer: sync | async | oneway | batch (async)\n"
            "  --batch N        messages per batch (16)\n"
            "  --rate R         messages per second, 0 = unlimited (0)\n"
            "  --duration S     run for S seconds (10)\n"
            "  --count N        stop after N messages\n"
            "  -g GROUP         consumer group (benchmark_consumer)\n"
            "  --json           end with one JSON summary line\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "producer") || !strcmp(argv[1], "consumer") || !strcmp(argv[1], "e2e")) {
        fprintf(stderr, "mqbench: mode %s is not implemented yet\n", argv[1]);
        return 2;
    }
    fprintf(stderr, "mqbench: unknown mode '%s' (see mqbench --help)\n", argv[1]);
    return 1;
}
